package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"go.yaml.in/yaml/v3"
)

// newTestTemplate returns a template "test/1" whose seed-data files, and
// optional defaults.yaml, come from files.
func newTestTemplate(files map[string]string) *Template {
	fsys := fstest.MapFS{}
	for name, text := range files {
		p := "seed-data/" + name
		if name == defaultsFile {
			p = name
		}
		fsys[p] = &fstest.MapFile{Data: []byte(text)}
	}
	return &Template{OS: "test", Version: "1", Source: EmbeddedSource, fsys: fsys, seed: seedDataDir, display: "test/1"}
}

const testMetaData = "instance-id: {{ INSTANCE_ID }}\nlocal-hostname: {{ HOSTNAME }}\n"

func validValues(t *testing.T) Values {
	t.Helper()
	var v Values
	for name, value := range map[string]string{
		VarHostname:     "web-01",
		VarSSHPublicKey: testEd25519Key + " me@laptop",
	} {
		if err := v.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestRenderPositions(t *testing.T) {
	tests := []struct {
		name     string
		userData string
		want     string
	}{
		{"mapping value", "hostname: {{ HOSTNAME }}\n", `hostname: "web-01"` + "\n"},
		{"no spaces in braces", "hostname: {{HOSTNAME}}\n", `hostname: "web-01"` + "\n"},
		{"value with comment", "hostname: {{ HOSTNAME }} # the name\n", `hostname: "web-01" # the name` + "\n"},
		{"block item", "a:\n  - {{ HOSTNAME }}\n", "a:\n  - \"web-01\"\n"},
		{"flow sequence", "a: [x, {{ HOSTNAME }}, y]\n", `a: [x, "web-01", y]` + "\n"},
		{"flow mapping value", "a: {k: {{ HOSTNAME }}}\n", `a: {k: "web-01"}` + "\n"},
		{"multi-line flow", "a: [\n  {{ HOSTNAME }},\n  x]\n", "a: [\n  \"web-01\",\n  x]\n"},
		{"inside double quotes", `a: "h={{ HOSTNAME }};"` + "\n", `a: "h=web-01;"` + "\n"},
		{"inside single quotes", "a: 'h={{ HOSTNAME }}'\n", "a: 'h=web-01'\n"},
		{"item mapping value", "a:\n  - k: {{ HOSTNAME }}\n", "a:\n  - k: \"web-01\"\n"},
		{"list as value", "p: {{ PACKAGES }}\n", `p: ["a", "b c"]` + "\n"},
		{"list as items", "p:\n  - fixed\n  - {{ PACKAGES }}\n", "p:\n  - fixed\n  - \"a\"\n  - \"b c\"\n"},
		{"list in item mapping", "p:\n  - k: {{ PACKAGES }}\n", "p:\n  - k: [\"a\", \"b c\"]\n"},
		{"block scalar then key", "a: |\n  text\nb: {{ HOSTNAME }}\n", "a: |\n  text\nb: \"web-01\"\n"},
		{"nested block scalar ends", "a:\n  - c: |\n      text\n    d: {{ HOSTNAME }}\n", "a:\n  - c: |\n      text\n    d: \"web-01\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := newTestTemplate(map[string]string{
				UserDataFile: "#cloud-config\n" + tt.userData,
				MetaDataFile: testMetaData,
			})
			values := validValues(t)
			if err := values.SetList(VarPackages, []string{"a", "b c"}); err != nil {
				t.Fatal(err)
			}
			r, err := tmpl.render(values, renderOptions{skipChecks: true})
			if err != nil {
				t.Fatalf("render failed: %v", err)
			}
			if got := strings.TrimPrefix(string(r.UserData), "#cloud-config\n"); got != tt.want {
				t.Errorf("user-data =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderRejectsUnsafePositions(t *testing.T) {
	tests := []struct {
		name     string
		userData string
		errMatch string
	}{
		{"key", "{{ HOSTNAME }}: x\n", "in a key or after another token"},
		{"flow mapping key", "a: { {{ HOSTNAME }}: x}\n", "in a key or after another token"},
		{"plain scalar prefix", "a: web-{{ HOSTNAME }}\n", "inside a plain (unquoted) scalar"},
		{"plain scalar suffix", "a: {{ HOSTNAME }}.example.com\n", "followed by more text"},
		{"comment", "# host {{ HOSTNAME }}\na: 1\n", "inside a comment"},
		{"trailing comment", "a: 1 # {{ HOSTNAME }}\n", "inside a comment"},
		{"literal block", "a: |\n  host {{ HOSTNAME }}\n", "inside a block scalar"},
		{"folded block", "a: >-\n  {{ HOSTNAME }}\n", "inside a block scalar"},
		{"block after blank line", "a: |\n  x\n\n  {{ HOSTNAME }}\n", "inside a block scalar"},
		{"line start", "a:\n  {{ HOSTNAME }}\n", "in a key or after another token"},
		{"after tag", "a: !!binary {{ HOSTNAME }}\n", "in a key or after another token"},
		{"malformed", "a: {{ host name }}\n", "malformed placeholder"},
		{"unclosed", "a: {{ HOSTNAME\n", "malformed placeholder"},
		{"unknown variable", "a: {{ NOPE }}\n", "variable NOPE: unknown variable in placeholder {{ NOPE }}"},
		{"list in quotes", `a: "x {{ PACKAGES }}"` + "\n", "variable PACKAGES: list variable inside a quoted string"},
		{"missing header", "", "must start with the line #cloud-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			userData := "#cloud-config\n" + tt.userData
			if tt.name == "missing header" {
				userData = "a: 1\n"
			}
			tmpl := newTestTemplate(map[string]string{UserDataFile: userData, MetaDataFile: testMetaData})
			_, err := tmpl.Render(validValues(t))
			if err == nil {
				t.Fatal("render succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.errMatch) {
				t.Errorf("error %q does not contain %q", err, tt.errMatch)
			}
			if !strings.Contains(err.Error(), "test/1/seed-data/user-data:") {
				t.Errorf("error %q does not name the file and line", err)
			}
		})
	}
}

func TestRenderErrorNamesFileLineVariableRule(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{
		UserDataFile: "#cloud-config\n# comment\nusers:\n  - name: {{ USERNAME }}\nhostname: {{ HOSTNAME }}\ntimezone: {{ TIMEZONE }}\n",
		MetaDataFile: testMetaData,
	})
	var v Values
	for name, value := range map[string]string{
		VarHostname: "My_Host", VarUsername: "root", VarTimezone: "Mars/Olympus", VarSSHPublicKey: testEd25519Key,
	} {
		if err := v.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	_, err := tmpl.Render(v)
	if err == nil {
		t.Fatal("render succeeded with three bad values")
	}
	want := []string{
		`test/1/seed-data/user-data:4: variable USERNAME: "root" is a system account name: choose another user name, such as genie`,
		`test/1/seed-data/user-data:5: variable HOSTNAME: "My_Host" is not a valid hostname: use 1 to 63 characters a-z, 0-9 and '-', not starting or ending with '-'`,
		`test/1/seed-data/user-data:6: variable TIMEZONE: "Mars/Olympus" is not a valid time zone: use a name from the IANA time zone database, such as UTC or Europe/Berlin`,
	}
	errs := Errors(err)
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if e.Error() != want[i] {
			t.Errorf("error %d =\n%s\nwant\n%s", i, e, want[i])
		}
	}
	if errs[1].File != "test/1/seed-data/user-data" || errs[1].Line != 5 || errs[1].Variable != VarHostname {
		t.Errorf("error fields = %q:%d %q", errs[1].File, errs[1].Line, errs[1].Variable)
	}
}

func TestRenderMissingAndUnusedValues(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{
		UserDataFile: "#cloud-config\nhostname: {{ HOSTNAME }}\nfqdn: {{ HOSTNAME }}\n",
		MetaDataFile: testMetaData,
	})
	var v Values
	if err := v.Set(VarLocale, "english"); err != nil {
		t.Fatal(err)
	}
	_, err := tmpl.Render(v)
	errs := Errors(err)
	want := []string{
		"test/1/seed-data/user-data:2: variable HOSTNAME: missing value: HOSTNAME is required",
		`variable LOCALE: "english" is not a valid locale`,
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d (HOSTNAME reported once, unused LOCALE once):\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, e, want[i])
		}
	}
}

func TestRenderEmptyListDropsKeyLine(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{
		UserDataFile: "#cloud-config\npackages: {{ PACKAGES }}\nruncmd:\n  - fixed\n  - {{ RUNCMD }}\nafter: {{ HOSTNAME }}\n",
		MetaDataFile: testMetaData,
	})
	values := validValues(t)
	if err := values.Set(VarPackages, ""); err != nil {
		t.Fatal(err)
	}
	r, err := tmpl.Render(values)
	if err != nil {
		t.Fatal(err)
	}
	want := "#cloud-config\nruncmd:\n  - fixed\nafter: \"web-01\"\n"
	if string(r.UserData) != want {
		t.Errorf("user-data =\n%s\nwant\n%s", r.UserData, want)
	}
}

func TestRenderSingleQuotedRejectsLineBreak(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{
		UserDataFile: "#cloud-config\na: 'x {{ HOSTNAME }}'\n",
		MetaDataFile: testMetaData,
	})
	var v Values
	_ = v.Set(VarHostname, "it's\nme")
	_, err := tmpl.render(v, renderOptions{skipChecks: true})
	if err == nil || !strings.Contains(err.Error(), "single-quoted YAML scalar cannot hold") {
		t.Fatalf("error = %v, want a single-quote error", err)
	}
	_ = v.Set(VarHostname, "it's me")
	r, err := tmpl.render(v, renderOptions{skipChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(r.UserData, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["a"] != "x it's me" {
		t.Errorf("a = %q, want %q", doc["a"], "x it's me")
	}
}

func TestRenderNormalizesTemplateText(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{
		UserDataFile: "\xef\xbb\xbf#cloud-config\r\nhostname: {{ HOSTNAME }}\r\n",
		MetaDataFile: testMetaData,
	})
	r, err := tmpl.Render(validValues(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "#cloud-config\nhostname: \"web-01\"\n"; string(r.UserData) != want {
		t.Errorf("user-data = %q, want %q", r.UserData, want)
	}
}

func TestRenderInstanceID(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{UserDataFile: "#cloud-config\n", MetaDataFile: testMetaData})
	first, err := tmpl.Render(validValues(t))
	if err != nil {
		t.Fatal(err)
	}
	second, err := tmpl.Render(validValues(t))
	if err != nil {
		t.Fatal(err)
	}
	if first.InstanceID == second.InstanceID || !strings.HasPrefix(first.InstanceID, "i-") {
		t.Errorf("instance IDs %q and %q: want two different generated IDs", first.InstanceID, second.InstanceID)
	}
	if !bytes.Contains(first.MetaData, []byte(`instance-id: "`+first.InstanceID+`"`)) {
		t.Errorf("meta-data %q does not contain instance ID %q", first.MetaData, first.InstanceID)
	}
	given := validValues(t)
	_ = given.Set(VarInstanceID, "vm-7")
	r, err := tmpl.Render(given)
	if err != nil {
		t.Fatal(err)
	}
	if r.InstanceID != "vm-7" || r.Hostname != "web-01" || r.Username != DefaultUsername {
		t.Errorf("Rendered IDs = %q %q %q", r.InstanceID, r.Hostname, r.Username)
	}
}

func TestRenderTemplateDefaults(t *testing.T) {
	tmpl := newTestTemplate(map[string]string{
		UserDataFile: "#cloud-config\npackages: {{ PACKAGES }}\ntimezone: {{ TIMEZONE }}\n",
		MetaDataFile: testMetaData,
		defaultsFile: "PACKAGES: [qemu-guest-agent]\nTIMEZONE: Europe/Berlin\n",
	})
	r, err := tmpl.Render(validValues(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "#cloud-config\npackages: [\"qemu-guest-agent\"]\ntimezone: \"Europe/Berlin\"\n"; string(r.UserData) != want {
		t.Errorf("user-data =\n%s\nwant\n%s", r.UserData, want)
	}

	bad := newTestTemplate(map[string]string{
		UserDataFile: "#cloud-config\ntimezone: {{ TIMEZONE }}\n",
		MetaDataFile: testMetaData,
		defaultsFile: "TIMEZONE: Nowhere\nNOPE: 1\nPACKAGES: x\nOS_VERSION: '2'\n",
	})
	_, err = bad.Render(validValues(t))
	for _, want := range []string{
		"test/1/defaults.yaml:2: variable NOPE: unknown variable",
		"test/1/defaults.yaml:3: variable PACKAGES: list variable needs a YAML sequence",
		"test/1/defaults.yaml:4: variable OS_VERSION: set from the template's location",
		`test/1/seed-data/user-data:2: variable TIMEZONE: "Nowhere" is not a valid time zone: use a name from the IANA time zone database, such as UTC or Europe/Berlin (default set at test/1/defaults.yaml:1)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\ndoes not contain %q", err, want)
		}
	}
}

// hostileTemplate uses every variable in every position that takes a
// value, so tests can compare the parsed document with the values.
var hostileTemplate = map[string]string{
	UserDataFile: `#cloud-config
hostname: {{ HOSTNAME }}
users:
  - name: {{ USERNAME }}
    ssh_authorized_keys:
      - {{ SSH_PUBLIC_KEY }}
    flow: [x, {{ TIMEZONE }}, y]
    map: {k: {{ LOCALE }}}
    quoted: "pre {{ KEYBOARD_LAYOUT }} post"
os: [{{ OPERATING_SYSTEM }}, {{ OS_VERSION }}]
packages: {{ PACKAGES }}
runcmd:
  - fixed
  - {{ RUNCMD }}
end: true
`,
	MetaDataFile: testMetaData,
}

// hostileExpected returns the document that hostileTemplate must parse to.
func hostileExpected(s map[string]string, packages, runcmd []string) map[string]any {
	doc := map[string]any{
		"hostname": s[VarHostname],
		"users": []any{map[string]any{
			"name":                s[VarUsername],
			"ssh_authorized_keys": []any{s[VarSSHPublicKey]},
			"flow":                []any{"x", s[VarTimezone], "y"},
			"map":                 map[string]any{"k": s[VarLocale]},
			"quoted":              "pre " + s[VarKeyboardLayout] + " post",
		}},
		"os":     []any{"test", "1"},
		"runcmd": []any{"fixed"},
		"end":    true,
	}
	if len(packages) > 0 {
		doc["packages"] = toAny(packages)
	}
	for _, c := range runcmd {
		doc["runcmd"] = append(doc["runcmd"].([]any), c)
	}
	return doc
}

func toAny(items []string) []any {
	out := make([]any, len(items))
	for i, item := range items {
		out[i] = item
	}
	return out
}

// hostileStrings are values that would change the YAML structure if they
// were pasted into it as text.
var hostileStrings = []string{
	"a\nb: c",
	"x\n- item",
	"key: value",
	"- item",
	"# comment",
	"x # comment",
	`x" , injected: "y`,
	`x', injected: 'y`,
	`\`,
	`\"`,
	"a\r\nb",
	"\x00\x07\x1b\x7f\u0085\u009f",
	"\u2028\u2029\ufeff\ufffe",
	"---\n...\n",
	"&anchor *alias !!binary",
	"[1, 2]",
	"{a: b}",
	"|\n  block",
	">- folded",
	"😀 non-BMP",
	"\t tab",
	"",
	" leading and trailing ",
	"%TAG ! tag:x",
	"@`",
	"null",
	"~",
	"yes",
	"0x1F",
	"1e3",
	"{{ HOSTNAME }}",
	"}}",
	"\"\n\"",
	"'\n'",
}

func TestRenderHostileValuesKeepStructure(t *testing.T) {
	tmpl := newTestTemplate(hostileTemplate)
	names := []string{VarHostname, VarUsername, VarSSHPublicKey, VarTimezone, VarLocale, VarKeyboardLayout, VarInstanceID}
	for _, hostile := range hostileStrings {
		for _, name := range names {
			values := validValues(t)
			if err := values.Set(name, hostile); err != nil {
				t.Fatal(err)
			}
			_ = values.SetList(VarPackages, []string{hostile, "plain"})
			_ = values.SetList(VarRuncmd, []string{hostile})
			r, err := tmpl.render(values, renderOptions{skipChecks: true})
			if err != nil {
				t.Fatalf("%s=%q: render failed: %v", name, hostile, err)
			}
			checkHostileDocument(t, r, name+"="+hostile)
		}
	}
}

// checkHostileDocument parses the rendered hostile template and compares it
// with the document the values must produce.
func checkHostileDocument(t *testing.T, r *Rendered, label string) {
	t.Helper()
	var got map[string]any
	if err := yaml.Unmarshal(r.UserData, &got); err != nil {
		t.Fatalf("%q: rendered user-data is not valid YAML: %v\n%s", label, err, r.UserData)
	}
	want := hostileExpected(r.Strings, r.Lists[VarPackages], r.Lists[VarRuncmd])
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: parsed user-data differs:\ngot  %#v\nwant %#v\n%s", label, got, want, r.UserData)
	}
	var meta map[string]any
	if err := yaml.Unmarshal(r.MetaData, &meta); err != nil {
		t.Fatalf("%q: rendered meta-data is not valid YAML: %v", label, err)
	}
	wantMeta := map[string]any{"instance-id": r.InstanceID, "local-hostname": r.Hostname}
	if !reflect.DeepEqual(meta, wantMeta) {
		t.Fatalf("%q: parsed meta-data = %#v, want %#v", label, meta, wantMeta)
	}
}

func TestRenderEmptyListsKeepStructure(t *testing.T) {
	tmpl := newTestTemplate(hostileTemplate)
	values := validValues(t)
	_ = values.SetList(VarPackages, nil)
	_ = values.SetList(VarRuncmd, nil)
	r, err := tmpl.Render(values)
	if err != nil {
		t.Fatal(err)
	}
	checkHostileDocument(t, r, "empty lists")
	if bytes.Contains(r.UserData, []byte("packages")) {
		t.Errorf("user-data still has a packages key:\n%s", r.UserData)
	}
}

// TestRenderHostileValuesPyYAML parses hostile renders with PyYAML, the
// YAML 1.1 parser cloud-init uses, and checks that it reads the same
// document as the Go parser.
func TestRenderHostileValuesPyYAML(t *testing.T) {
	python := requireTool(t, "python3")
	tmpl := newTestTemplate(hostileTemplate)
	var docs [][]byte
	var wants []map[string]any
	for _, hostile := range hostileStrings {
		values := validValues(t)
		for _, name := range []string{VarHostname, VarUsername, VarSSHPublicKey, VarTimezone, VarLocale, VarKeyboardLayout, VarInstanceID} {
			_ = values.Set(name, hostile+"-"+name)
		}
		_ = values.SetList(VarPackages, []string{hostile})
		_ = values.SetList(VarRuncmd, []string{hostile, hostile})
		r, err := tmpl.render(values, renderOptions{skipChecks: true})
		if err != nil {
			t.Fatalf("%q: %v", hostile, err)
		}
		docs = append(docs, r.UserData)
		wants = append(wants, hostileExpected(r.Strings, r.Lists[VarPackages], r.Lists[VarRuncmd]))
	}
	input, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	// The script reads a JSON array of YAML documents (as base64 byte
	// strings) and writes a JSON array of the parsed documents.
	script := `import base64, json, sys, yaml
docs = json.load(sys.stdin)
json.dump([yaml.safe_load(base64.b64decode(d)) for d in docs], sys.stdout)`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 with PyYAML failed: %v\n%s", err, stderr.String())
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for i := range wants {
		want, err := jsonRoundTrip(wants[i])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("%q: PyYAML read\n%#v\nwant\n%#v\n%s", hostileStrings[i], got[i], want, docs[i])
		}
	}
}

func jsonRoundTrip(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = json.Unmarshal(data, &out)
	return out, err
}

func TestErrorsUnwrapsJoin(t *testing.T) {
	a := &Error{File: "f", Line: 1, Err: errors.New("a")}
	b := &Error{Variable: "X", Err: errors.New("b")}
	got := Errors(errors.Join(a, errors.Join(b)))
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Errors = %v", got)
	}
	if b.Error() != "variable X: b" || a.Error() != "f:1: a" {
		t.Errorf("messages %q, %q", a, b)
	}
}
