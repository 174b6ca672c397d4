package template

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTemplate writes a template directory <root>/<osName>/<version>.
func writeTemplate(t *testing.T, root, osName, version, userData string) string {
	t.Helper()
	dir := filepath.Join(root, osName, version, seedDataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{UserDataFile: userData, MetaDataFile: testMetaData} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, osName, version)
}

func TestEmbeddedCatalogTemplates(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tmpl := range c.Templates() {
		names = append(names, tmpl.Name())
		if tmpl.Source != EmbeddedSource {
			t.Errorf("%s: Source = %q, want %q", tmpl.Name(), tmpl.Source, EmbeddedSource)
		}
	}
	want := []string{
		"almalinux-9", "debian-12", "debian-13", "fedora-42",
		"opensuse-leap-15.6", "opensuse-tumbleweed-current",
		"rocky-9", "rocky-10", "ubuntu-22.04", "ubuntu-24.04",
	}
	if !slices.Equal(names, want) {
		t.Errorf("templates = %q, want %q (sorted by OS, then numeric version)", names, want)
	}
}

func TestCatalogDiskOverridesEmbedded(t *testing.T) {
	root := t.TempDir()
	overrideDir := writeTemplate(t, root, "ubuntu", "24.04", "#cloud-config\nhostname: {{ HOSTNAME }}\n")
	addedDir := writeTemplate(t, root, "mydistro", "1.0", "#cloud-config\n")
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("notes"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	ubuntu, err := c.Lookup("ubuntu", "24.04")
	if err != nil {
		t.Fatal(err)
	}
	if ubuntu.Source != overrideDir {
		t.Errorf("ubuntu 24.04 Source = %q, want the disk copy %q", ubuntu.Source, overrideDir)
	}
	r, err := ubuntu.Render(validValues(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "#cloud-config\nhostname: \"web-01\"\n"; string(r.UserData) != want {
		t.Errorf("rendered override = %q, want %q", r.UserData, want)
	}
	if r.NetworkConfig != nil {
		t.Errorf("override has network-config %q from the embedded template; the disk copy replaces all files", r.NetworkConfig)
	}

	added, err := c.LookupName("mydistro-1.0")
	if err != nil {
		t.Fatal(err)
	}
	if added.Source != addedDir {
		t.Errorf("mydistro Source = %q, want %q", added.Source, addedDir)
	}
	jammy, err := c.Lookup("ubuntu", "22.04")
	if err != nil {
		t.Fatal(err)
	}
	if jammy.Source != EmbeddedSource {
		t.Errorf("ubuntu 22.04 Source = %q, want embedded", jammy.Source)
	}
	if got := c.Versions("ubuntu"); !slices.Equal(got, []string{"22.04", "24.04"}) {
		t.Errorf("Versions(ubuntu) = %q", got)
	}
	if !slices.Contains(c.OSNames(), "mydistro") {
		t.Errorf("OSNames = %q, want mydistro among them", c.OSNames())
	}
}

func TestCatalogRejectsBadDiskLayout(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(root string)
		errMatch string
	}{
		{"bad OS name", func(root string) { writeTemplate(t, root, "My OS", "1", "#cloud-config\n") }, `OS directory name "My OS" is invalid`},
		{"dash in version", func(root string) { writeTemplate(t, root, "os", "1-2", "#cloud-config\n") }, "version directory os/1-2 is invalid"},
		{"missing meta-data", func(root string) {
			dir := writeTemplate(t, root, "os", "1", "#cloud-config\n")
			_ = os.Remove(filepath.Join(dir, seedDataDir, MetaDataFile))
		}, "template os/1 has no seed-data/meta-data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.setup(root)
			_, err := Load(root)
			if err == nil || !strings.Contains(err.Error(), tt.errMatch) {
				t.Errorf("Load error = %v, want one containing %q", err, tt.errMatch)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), EnvTemplateDir) {
		t.Errorf("Load of a missing directory: %v, want a hint naming %s", err, EnvTemplateDir)
	}
}

func TestParseName(t *testing.T) {
	tests := []struct{ name, os, version string }{
		{"ubuntu-24.04", "ubuntu", "24.04"},
		{"debian-12", "debian", "12"},
		{"opensuse-leap-15.6", "opensuse-leap", "15.6"},
		{"opensuse-tumbleweed-current", "opensuse-tumbleweed", "current"},
	}
	for _, tt := range tests {
		osName, version, err := ParseName(tt.name)
		if err != nil || osName != tt.os || version != tt.version {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", tt.name, osName, version, err, tt.os, tt.version)
		}
	}
	for _, bad := range []string{"", "ubuntu", "ubuntu-", "-24.04", "Ubuntu-24.04", "ubuntu 24.04"} {
		if _, _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) succeeded", bad)
		}
	}
}

func TestLookupNotFoundListsTemplates(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LookupName("debian-14")
	if err == nil || !strings.Contains(err.Error(), "template debian 14 not found: available templates are almalinux-9, debian-12") {
		t.Errorf("error = %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"1", "1.2", "1.10", "9", "10", "22.04", "24.04", "current"}
	for i := range len(ordered) - 1 {
		if c := compareVersions(ordered[i], ordered[i+1]); c >= 0 {
			t.Errorf("compareVersions(%q, %q) = %d, want < 0", ordered[i], ordered[i+1], c)
		}
		if c := compareVersions(ordered[i+1], ordered[i]); c <= 0 {
			t.Errorf("compareVersions(%q, %q) = %d, want > 0", ordered[i+1], ordered[i], c)
		}
	}
}

func TestValidateDirForms(t *testing.T) {
	root := t.TempDir()
	good := writeTemplate(t, root, "good", "1", "#cloud-config\nhostname: {{ HOSTNAME }}\npackages: {{ PACKAGES }}\n")
	bad := writeTemplate(t, root, "bad", "2", "#cloud-config\nhostname: x-{{ HOSTNAME }}\nfoo: {{ FOO }}\n")
	ctx := context.Background()

	for _, dir := range []string{good, filepath.Join(good, seedDataDir)} {
		templates, err := ValidateDir(ctx, dir, nil)
		if err != nil {
			t.Errorf("ValidateDir(%s) failed: %v", dir, err)
		}
		if len(templates) != 1 || templates[0].Name() != "good-1" {
			t.Errorf("ValidateDir(%s) found %d templates", dir, len(templates))
		}
	}

	templates, err := ValidateDir(ctx, root, nil)
	if len(templates) != 2 {
		t.Errorf("ValidateDir(catalog) found %d templates, want 2", len(templates))
	}
	errs := Errors(err)
	if len(errs) != 2 {
		t.Fatalf("got %d problems, want 2: %v", len(errs), err)
	}
	file := filepath.ToSlash(filepath.Join(bad, seedDataDir, UserDataFile))
	if !strings.HasPrefix(errs[0].Error(), file+":2: placeholder {{ HOSTNAME }} is inside a plain") {
		t.Errorf("problem 1 = %q", errs[0])
	}
	if !strings.HasPrefix(errs[1].Error(), file+":3: variable FOO: unknown variable") {
		t.Errorf("problem 2 = %q", errs[1])
	}

	fixed := writeTemplate(t, t.TempDir(), "os", "1", "#cloud-config\npackages:\n  - {{ PACKAGES }}\n")
	_, err = ValidateDir(ctx, fixed, nil)
	if err == nil {
		t.Error("ValidateDir accepted a template whose empty PACKAGES leaves an empty packages key")
	}
}
