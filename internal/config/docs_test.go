package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// serviceDoc is the user documentation of the config file.
var serviceDoc = filepath.Join("..", "..", "docs", "service.md")

// TestDocsListEveryKey fails when a key is missing from the key table in
// docs/service.md, so that the reference stays complete.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile(serviceDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range allKeys() {
		if !strings.Contains(string(doc), "| `"+key+"` |") {
			t.Errorf("%s has no table row for key %s", serviceDoc, key)
		}
	}
}

// TestDocsExampleParses parses the example in docs/service.md that sets
// every key.
func TestDocsExampleParses(t *testing.T) {
	doc, err := os.ReadFile(serviceDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(doc), "An example that sets every key:\n\n```yaml\n")
	if !found {
		t.Fatalf("%s lacks the example that sets every key", serviceDoc)
	}
	example, _, _ := strings.Cut(rest, "```")

	p := platform{goos: "linux", getenv: envMap(nil)}
	cfg, err := parse([]byte(example), "example", p)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	d := &decoder{positions: map[string]position{}, leafPaths: map[string][]string{}}
	d.indexKeys(reflect.TypeOf(*cfg), "")
	root, problem := readDocument([]byte(example))
	if problem != nil {
		t.Fatal(problem)
	}
	d.decodeStruct(root, "", reflect.ValueOf(&Config{}).Elem())
	for _, key := range allKeys() {
		if _, set := d.positions[key]; !set {
			t.Errorf("the example does not set %s", key)
		}
	}
}
