package seed

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// cloudInitPart is one part as cloud-init's UserDataProcessor hands it to a
// handler (testdata/cloudinit_userdata.py).
type cloudInitPart struct {
	Type      string `json:"type"`
	Filename  string `json:"filename"`
	MergeType string `json:"merge_type"`
	Payload   []byte `json:"payload"`
}

type cloudInitView struct {
	Parts  []cloudInitPart `json:"parts"`
	Config map[string]any  `json:"config"`
}

// needCloudInit skips the test when cloud-init is not installed, except in
// CI, where scripts/test.sh installs it, so a missing cloud-init fails.
func needCloudInit(t *testing.T) {
	t.Helper()
	err := exec.Command("/usr/bin/python3", "-c", "import cloudinit.user_data").Run()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("cloud-init's Python package is missing (%v); scripts/test.sh installs it", err)
	}
	t.Skipf("skipping: cloud-init's Python package is not installed (%v); scripts/test.sh installs it", err)
}

// readWithCloudInit runs user-data through cloud-init's own parser and
// cloud-config merger.
func readWithCloudInit(t *testing.T, userData []byte) cloudInitView {
	t.Helper()
	needCloudInit(t)
	path := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(path, userData, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "testdata/cloudinit_userdata.py", path).Output()
	if err != nil {
		t.Fatalf("cloudinit_userdata.py failed: %v\n%s", err, exitStderr(err))
	}
	var view cloudInitView
	if err := json.Unmarshal(out, &view); err != nil {
		t.Fatalf("decode cloudinit_userdata.py output %q: %v", out, err)
	}
	return view
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestCombinedUserDataInCloudInit builds the combined user-data for a
// template and user documents of every format and checks what cloud-init's
// own code reads from it: the same parts, byte for byte, and the merged
// cloud-config.
func TestCombinedUserDataInCloudInit(t *testing.T) {
	template := "#cloud-config\nhostname: template-host\npackages: [curl]\nruncmd:\n  - echo template\nusers:\n  - default\nntp:\n  enabled: true\n  servers: [t.example]\n"
	user := "#cloud-config\n# keep this comment\nhostname: user-host\npackages: [htop]\nruncmd:\n  - echo user\nusers:\n  - name: bob\nntp:\n  servers: [u.example]\n"
	script := "#!/bin/sh\necho 'héllo wörld'\n"
	boothook := "#cloud-boothook\n#!/bin/sh\necho boot\n"
	jinja := "## template: jinja\n#cloud-config\nruncmd:\n  - echo {{ v1.instance_id }}\n"
	included := "#cloud-config\ntimezone: UTC\n"
	includedPath := filepath.Join(t.TempDir(), "included.yaml")
	if err := os.WriteFile(includedPath, []byte(included), 0o600); err != nil {
		t.Fatal(err)
	}
	include := "#include\nfile://" + includedPath + "\n"

	seed, err := Build(Spec{
		Template: &Source{Name: "template", Data: []byte(template)},
		UserData: []Source{
			{Name: "user.yaml", Data: []byte(user)},
			{Name: "script.sh", Data: []byte(script)},
			{Name: "boothook", Data: []byte(boothook)},
			{Name: "jinja", Data: []byte(jinja)},
			{Name: "include", Data: []byte(include)},
		},
		Hostname: "vm1",
	})
	if err != nil {
		t.Fatal(err)
	}
	userData, _ := seed.File(UserDataName)
	view := readWithCloudInit(t, userData)

	// cloud-init replaces the #include part with the file it names.
	want := []struct{ typ, payload, merge string }{
		{"text/cloud-config", user, ""},
		{"text/x-shellscript", script, ""},
		{"text/cloud-boothook", boothook, ""},
		{"text/jinja2", jinja, ""},
		{"text/cloud-config", included, ""},
		{"text/cloud-config", template, TemplateMergeType},
	}
	if len(view.Parts) != len(want) {
		t.Fatalf("cloud-init read %d parts, want %d: %+v", len(view.Parts), len(want), view.Parts)
	}
	for i, w := range want {
		got := view.Parts[i]
		if got.Type != w.typ {
			t.Errorf("part %d: type %q, want %q", i+1, got.Type, w.typ)
		}
		if string(got.Payload) != w.payload {
			t.Errorf("part %d: payload %q, want %q", i+1, got.Payload, w.payload)
		}
		if got.MergeType != w.merge {
			t.Errorf("part %d: Merge-Type %q, want %q", i+1, got.MergeType, w.merge)
		}
	}

	wantConfig := map[string]any{
		"hostname": "user-host",
		"timezone": "UTC",
		"packages": []any{"curl", "htop"},
		"runcmd":   []any{"echo template", "echo user"},
		"users":    []any{"default", map[string]any{"name": "bob"}},
		"ntp":      map[string]any{"enabled": true, "servers": []any{"t.example", "u.example"}},
	}
	if !reflect.DeepEqual(view.Config, wantConfig) {
		t.Errorf("cloud-init merged config:\n%v\nwant:\n%v", view.Config, wantConfig)
	}
}

// TestUserMergeHowWins checks that a user's own merge_how in a later part
// still applies among the user's parts, and that the template adds only the
// keys the user did not set.
func TestUserMergeHowWins(t *testing.T) {
	first := "#cloud-config\npackages: [a]\n"
	second := "#cloud-config\nmerge_how: 'list(replace)+dict(replace)'\npackages: [b]\n"
	template := "#cloud-config\npackages: [t]\ntimezone: UTC\n"
	seed, err := Build(Spec{
		Template: &Source{Name: "template", Data: []byte(template)},
		UserData: []Source{{Name: "1.yaml", Data: []byte(first)}, {Name: "2.yaml", Data: []byte(second)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	userData, _ := seed.File(UserDataName)
	view := readWithCloudInit(t, userData)
	want := map[string]any{"packages": []any{"t", "b"}, "timezone": "UTC"}
	if !reflect.DeepEqual(view.Config, want) {
		t.Errorf("merged config %v, want %v", view.Config, want)
	}
}

// TestCloudInitSchemaAcceptsMerge validates the config that cloud-init
// merges from a template and a user document with "cloud-init schema".
func TestCloudInitSchemaAcceptsMerge(t *testing.T) {
	if _, err := exec.LookPath("cloud-init"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("cloud-init is missing; scripts/test.sh installs it")
		}
		t.Skip("skipping: cloud-init is not installed; scripts/test.sh installs it")
	}
	seed, err := Build(Spec{
		Template: &Source{Name: "template", Data: []byte("#cloud-config\npackages: [curl]\nusers: [default]\n")},
		UserData: []Source{{Name: "user.yaml", Data: []byte("#cloud-config\npackages: [htop]\nusers:\n  - name: bob\n    shell: /bin/bash\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	userData, _ := seed.File(UserDataName)
	view := readWithCloudInit(t, userData)
	merged, err := json.Marshal(view.Config)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "merged.yaml")
	// JSON is YAML, so the merged config can be validated as it is.
	if err := os.WriteFile(path, append([]byte("#cloud-config\n"), merged...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cloud-init", "schema", "--config-file", path).CombinedOutput()
	if err != nil {
		t.Fatalf("cloud-init schema rejected the merged config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Valid cloud-config") {
		t.Errorf("cloud-init schema output %q does not say the config is valid", out)
	}
}

func decodeBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
