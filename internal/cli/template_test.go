package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vmgenie/vmgenie/internal/template"
)

// runVmgenie runs the command line with args and returns the exit code,
// stdout and stderr.
func runVmgenie(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Execute(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// setupHome points HOME at a temporary directory and returns it; with
// withKey it holds ~/.ssh/id_ed25519.pub.
func setupHome(t *testing.T, withKey bool) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(template.EnvTemplateDir, "")
	if withKey {
		if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), []byte(template.SampleSSHPublicKey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// writeDiskTemplate writes <root>/<osName>/<version>/seed-data/.
func writeDiskTemplate(t *testing.T, root, osName, version, userData string) string {
	t.Helper()
	dir := filepath.Join(root, osName, version, "seed-data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"user-data": userData,
		"meta-data": "instance-id: {{ INSTANCE_ID }}\nlocal-hostname: {{ HOSTNAME }}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, osName, version)
}

func TestTemplateListTable(t *testing.T) {
	setupHome(t, false)
	code, out, errOut := runVmgenie(t, "template", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 {
		t.Fatalf("got %d lines, want a header and 10 templates:\n%s", len(lines), out)
	}
	if fields := strings.Fields(lines[0]); strings.Join(fields, " ") != "OS VERSION NAME SOURCE" {
		t.Errorf("header = %q", lines[0])
	}
	if fields := strings.Fields(lines[1]); strings.Join(fields, " ") != "almalinux 9 almalinux-9 embedded" {
		t.Errorf("first row = %q", lines[1])
	}
}

func TestTemplateListJSONWithOverride(t *testing.T) {
	setupHome(t, false)
	root := t.TempDir()
	override := writeDiskTemplate(t, root, "debian", "12", "#cloud-config\n")
	t.Setenv(template.EnvTemplateDir, root)

	code, out, errOut := runVmgenie(t, "template", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var infos []templateInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	sources := map[string]string{}
	for _, info := range infos {
		sources[info.Name] = info.Source
	}
	if sources["debian-12"] != override {
		t.Errorf("debian-12 source = %q, want the disk copy %q", sources["debian-12"], override)
	}
	if sources["debian-13"] != template.EmbeddedSource {
		t.Errorf("debian-13 source = %q, want embedded", sources["debian-13"])
	}

	// --template-dir wins over the environment variable.
	other := t.TempDir()
	writeDiskTemplate(t, other, "extra", "1", "#cloud-config\n")
	code, out, _ = runVmgenie(t, "template", "list", "--template-dir", other, "-o", "json")
	if code != 0 || !strings.Contains(out, `"extra-1"`) || strings.Contains(out, override) {
		t.Errorf("list with --template-dir: exit %d\n%s", code, out)
	}
}

func TestTemplateRenderStdout(t *testing.T) {
	setupHome(t, true)
	code, out, errOut := runVmgenie(t, "template", "render", "ubuntu", "24.04",
		"--var", "HOSTNAME=web-01", "--var", "PACKAGES=", "--var", `RUNCMD=["touch /var/tmp/marker"]`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sections := splitSections(t, out)
	for _, name := range []string{"user-data", "meta-data", "network-config"} {
		if _, ok := sections[name]; !ok {
			t.Errorf("output has no %q section:\n%s", name, out)
		}
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(sections["user-data"]), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["packages"]; ok {
		t.Error("user-data has packages although PACKAGES is empty")
	}
	runcmd, _ := doc["runcmd"].([]any)
	if len(runcmd) == 0 || runcmd[len(runcmd)-1] != "touch /var/tmp/marker" {
		t.Errorf("runcmd = %#v", doc["runcmd"])
	}
	users := doc["users"].([]any)
	keys := users[0].(map[string]any)["ssh_authorized_keys"].([]any)
	if keys[0] != template.SampleSSHPublicKey {
		t.Errorf("SSH key = %v, want the one from ~/.ssh/id_ed25519.pub", keys[0])
	}
}

// splitSections splits "==> NAME <==" output into files.
func splitSections(t *testing.T, out string) map[string]string {
	t.Helper()
	sections := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(line, "==> ") && strings.HasSuffix(line, " <==\n") {
			name = strings.TrimSuffix(strings.TrimPrefix(line, "==> "), " <==\n")
			sections[name] = ""
			continue
		}
		if name == "" {
			t.Fatalf("output does not start with a section header: %q", out)
		}
		sections[name] += line
	}
	return sections
}

func TestTemplateRenderOutputDir(t *testing.T) {
	setupHome(t, false)
	keyFile := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(keyFile, []byte(template.SampleSSHPublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "seed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "network-config")
	if err := os.WriteFile(stale, []byte("version: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runVmgenie(t, "template", "render", "rocky", "9",
		"--var", "HOSTNAME=db", "--var", "INSTANCE_ID=i-42", "--ssh-public-key-file", keyFile, "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, filepath.Join(dir, "user-data")) {
		t.Errorf("output does not list the written files: %q", out)
	}
	meta, err := os.ReadFile(filepath.Join(dir, "meta-data"))
	if err != nil {
		t.Fatal(err)
	}
	if string(meta) != "instance-id: \"i-42\"\nlocal-hostname: \"db\"\n" {
		t.Errorf("meta-data = %q", meta)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale network-config was kept (rocky 9 has none): %v", err)
	}
}

func TestTemplateRenderErrors(t *testing.T) {
	setupHome(t, true)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bad values", []string{"ubuntu", "24.04", "--var", "HOSTNAME=My_Host", "--var", "USERNAME=root"}, []string{
			"ubuntu/24.04/seed-data/user-data:3: variable HOSTNAME: \"My_Host\" is not a valid hostname",
			"ubuntu/24.04/seed-data/user-data:10: variable USERNAME: \"root\" is a system account name",
		}},
		{"missing hostname", []string{"debian", "12"}, []string{"variable HOSTNAME: missing value: HOSTNAME is required"}},
		{"unknown variable", []string{"debian", "12", "--var", "COLOR=red"}, []string{`unknown variable "COLOR"`}},
		{"template variable", []string{"debian", "12", "--var", "OS_VERSION=13"}, []string{"set from the template's location"}},
		{"bad assignment", []string{"debian", "12", "--var", "HOSTNAME"}, []string{"use NAME=VALUE"}},
		{"unknown template", []string{"debian", "99", "--var", "HOSTNAME=x"}, []string{"template debian 99 not found: available templates are"}},
		{"key twice", []string{"debian", "12", "--var", "HOSTNAME=x", "--var", "SSH_PUBLIC_KEY=" + template.SampleSSHPublicKey, "--ssh-public-key-file", "/dev/null"}, []string{"use one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runVmgenie(t, append([]string{"template", "render"}, tt.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, want := range tt.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, errOut)
				}
			}
		})
	}
}

func TestTemplateRenderNoSSHKey(t *testing.T) {
	home := setupHome(t, false)
	code, _, errOut := runVmgenie(t, "template", "render", "debian", "12", "--var", "HOSTNAME=x")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "no SSH public key: none of " + filepath.Join(home, ".ssh", "id_ed25519.pub")
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "ssh-keygen -t ed25519") {
		t.Errorf("stderr = %q, want it to name the files tried and the fix", errOut)
	}
}

func TestTemplateValidate(t *testing.T) {
	setupHome(t, false)
	root := t.TempDir()
	writeDiskTemplate(t, root, "good", "1", "#cloud-config\nhostname: {{ HOSTNAME }}\n")
	code, out, errOut := runVmgenie(t, "template", "validate", "--no-schema", root)
	if code != 0 {
		t.Fatalf("exit %d on a valid catalog: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "good-1") {
		t.Errorf("output does not name the template: %q", out)
	}

	bad := writeDiskTemplate(t, root, "bad", "1", "#cloud-config\nhostname: {{ HOSTNAME }}\nkey: {{ NOT_A_VARIABLE }}\n")
	code, out, errOut = runVmgenie(t, "template", "validate", "--no-schema", root)
	if code != 1 {
		t.Errorf("exit %d on an invalid catalog, want 1", code)
	}
	wantProblem := filepath.ToSlash(filepath.Join(bad, "seed-data", "user-data")) + ":3: variable NOT_A_VARIABLE: unknown variable"
	if !strings.Contains(out, wantProblem) {
		t.Errorf("stdout does not list %q:\n%s", wantProblem, out)
	}
	if !strings.Contains(errOut, "found 1 problem in 2 templates") {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestTemplateValidateBuiltIn(t *testing.T) {
	setupHome(t, false)
	code, out, errOut := runVmgenie(t, "template", "validate", "--no-schema")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if got := strings.Count(out, "\nok "); got != 10 {
		t.Errorf("validated %d templates, want 10:\n%s", got, out)
	}
}

func TestTemplateShow(t *testing.T) {
	setupHome(t, false)
	code, out, errOut := runVmgenie(t, "template", "show", "fedora", "42")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "# template fedora-42 from embedded\n==> user-data <==\n#cloud-config\n") {
		t.Errorf("output starts %q", out[:min(len(out), 120)])
	}
	if !strings.Contains(out, "hostname: {{ HOSTNAME }}") || !strings.Contains(out, "==> meta-data <==") {
		t.Errorf("show does not print the unrendered files:\n%s", out)
	}
}

func TestTemplateCompletion(t *testing.T) {
	setupHome(t, false)
	code, out, _ := runVmgenie(t, "__complete", "template", "render", "")
	if code != 0 || !strings.Contains(out, "opensuse-leap\n") || !strings.Contains(out, "ubuntu\n") {
		t.Errorf("OS completion: exit %d\n%s", code, out)
	}
	code, out, _ = runVmgenie(t, "__complete", "template", "render", "rocky", "")
	if code != 0 || !strings.HasPrefix(out, "9\n10\n") {
		t.Errorf("version completion: exit %d\n%s", code, out)
	}
}

func TestTemplateVariables(t *testing.T) {
	code, out, _ := runVmgenie(t, "template", "variables", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var infos []variableInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(template.Variables()) || infos[0].Name != template.VarHostname || infos[0].Default != "(required)" {
		t.Errorf("variables = %+v", infos)
	}
}
