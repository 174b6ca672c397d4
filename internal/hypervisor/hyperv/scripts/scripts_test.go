package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func TestEveryFileIsKnown(t *testing.T) {
	for file := range Files() {
		name := strings.TrimSuffix(file, ".ps1")
		if _, ok := Lookup(name); !ok && !IsRunner(file) {
			t.Errorf("%s is embedded but is neither an operation script nor a runner; register it in scripts.go", file)
		}
	}
}

// stripStringsAndComments blanks PowerShell comments and quoted strings, so
// that operator checks look at code only. It handles the forms these
// scripts use: # comments, '...' and "..." strings without here-strings.
func stripStringsAndComments(src string) string {
	var b strings.Builder
	inSingle, inDouble, inComment := false, false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inComment:
			if c == '\n' {
				inComment = false
				b.WriteByte(c)
			}
			continue
		case inSingle:
			if c == '\'' {
				inSingle = false
			}
			continue
		case inDouble:
			if c == '`' {
				i++
			} else if c == '"' {
				inDouble = false
			}
			continue
		}
		switch c {
		case '#':
			inComment = true
		case '\'':
			inSingle = true
		case '"':
			inDouble = true
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestNoPowerShell7Operators(t *testing.T) {
	// Windows PowerShell 5.1 has none of these: null-coalescing (??, ??=),
	// the ternary operator (a ? b : c) and null-conditional access (?.).
	ops := []*regexp.Regexp{
		regexp.MustCompile(`\?\?`),
		regexp.MustCompile(`\?\.`),
		regexp.MustCompile(`\s\?\s`),
		regexp.MustCompile(`\?\[`),
		regexp.MustCompile(`&&|\|\|`),
	}
	for file, src := range Files() {
		code := stripStringsAndComments(src)
		for _, op := range ops {
			if loc := op.FindStringIndex(code); loc != nil {
				t.Errorf("%s uses %q, which Windows PowerShell 5.1 cannot parse", file, code[loc[0]:loc[1]])
			}
		}
	}
}

func TestStripStringsAndComments(t *testing.T) {
	got := stripStringsAndComments("$a = 'x ?? y' # b ?? c\n$b = \"q `\" ?. r\" ; $c\n")
	if strings.Contains(got, "??") || strings.Contains(got, "?.") {
		t.Errorf("stripped code still has operators from strings or comments: %q", got)
	}
	if !strings.Contains(got, "$c") {
		t.Errorf("stripped code lost the code after a string: %q", got)
	}
}

func TestOperationScriptsStartWithPreferences(t *testing.T) {
	for _, s := range Operations() {
		var code []string
		for _, line := range strings.Split(s.Text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			code = append(code, line)
		}
		want := []string{"param($In)", "$ErrorActionPreference = 'Stop'", "$ProgressPreference = 'SilentlyContinue'"}
		if len(code) < len(want) || strings.Join(code[:len(want)], "\n") != strings.Join(want, "\n") {
			t.Errorf("%s.ps1 starts with %q, want %q", s.Name, code[:min(len(code), 3)], want)
		}
	}
	runners := map[string][]string{
		"host.ps1":    {"exit 1"},
		"oneshot.ps1": {"$exitCode = 1", "exit $exitCode"},
	}
	for runner, exits := range runners {
		src := Files()[runner]
		common := []string{"$ErrorActionPreference = 'Stop'", "$ProgressPreference = 'SilentlyContinue'", "[Console]::OutputEncoding = $utf8", "} catch {"}
		for _, want := range append(common, exits...) {
			if !strings.Contains(src, want) {
				t.Errorf("%s lacks %q", runner, want)
			}
		}
	}
}

func TestCmdletsAreModuleQualified(t *testing.T) {
	// Any Verb-VM* or Verb-VHD cmdlet must carry its module, because
	// VMware PowerCLI defines Get-VM and others too.
	cmdlet := regexp.MustCompile(`([\w-]+\\)?\b(Get|Set|New|Remove|Start|Stop|Suspend|Resume|Add|Connect|Enable|Disable|Resize|Save)-(VM\w*|VHD)\b`)
	for file, src := range Files() {
		code := stripStringsAndComments(src)
		for _, m := range cmdlet.FindAllStringSubmatch(code, -1) {
			if m[1] != `Hyper-V\` {
				t.Errorf("%s calls %s without the Hyper-V\\ module prefix", file, m[0])
			}
		}
	}
}

func TestSizesAreInBytes(t *testing.T) {
	suffix := regexp.MustCompile(`\b\d+(KB|MB|GB|TB|PB)\b`)
	for file, src := range Files() {
		if m := suffix.FindString(stripStringsAndComments(src)); m != "" {
			t.Errorf("%s writes the size %s with a suffix; write it in bytes", file, m)
		}
	}
}

func TestReadOnlyScriptsChangeNothing(t *testing.T) {
	changing := regexp.MustCompile(`\b(Set|New|Remove|Start|Stop|Suspend|Resume|Add|Connect|Enable|Resize)-`)
	for _, s := range Operations() {
		if !s.ReadOnly {
			continue
		}
		if m := changing.FindString(stripStringsAndComments(s.Text)); m != "" && m != "New-" {
			t.Errorf("%s is marked read-only but calls %s", s.Name, m)
		}
	}
}

// TestScriptsParse runs tools/psparse, which parses every script with
// tree-sitter-powershell and fails on ERROR and MISSING nodes. The test
// script installs its npm packages first.
func TestScriptsParse(t *testing.T) {
	tool, err := filepath.Abs("../../../../tools/psparse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tool, "node_modules", "tree-sitter-powershell")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tools/psparse has no node_modules in CI; scripts/test.sh runs npm ci there first: %v", err)
		}
		t.Skipf("tools/psparse/node_modules is missing; run (cd tools/psparse && npm ci) or scripts/test.sh: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: %v", err)
	}
	var files []string
	for file := range Files() {
		files = append(files, file)
	}
	sort.Strings(files)
	cmd := exec.Command(node, append([]string{filepath.Join(tool, "check.js")}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tree-sitter-powershell rejected a script: %v\n%s", err, out)
	}
	got := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "ok ") {
			got++
		}
	}
	if got != len(files) {
		t.Errorf("check.js reported %d files ok, want %d:\n%s", got, len(files), out)
	}
}
