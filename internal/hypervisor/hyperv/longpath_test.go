package hyperv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpandExisting(t *testing.T) {
	root := t.TempDir()
	existing := filepath.Join(root, "PROGRA~1")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	var asked []string
	expand := func(p string) (string, error) {
		asked = append(asked, p)
		return strings.Replace(p, "PROGRA~1", "Program Files", 1), nil
	}
	got, err := expandExisting(filepath.Join(existing, "vmgenie", "new-vm"), expand)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "Program Files", "vmgenie", "new-vm"); got != want {
		t.Errorf("expandExisting = %q, want %q", got, want)
	}
	if len(asked) != 1 || asked[0] != existing {
		t.Errorf("expand was called with %q, want only the existing prefix %q", asked, existing)
	}
}

func TestFullPathIsAbsolute(t *testing.T) {
	got, err := fullPath("relative/dir")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got) {
		t.Errorf("fullPath = %q, want an absolute path", got)
	}
}

func TestNotWindowsErrorMatches(t *testing.T) {
	if _, err := NewPowerShellHost(nil); err != nil && !errors.Is(err, ErrNotWindows) {
		t.Errorf("NewPowerShellHost error %v does not match ErrNotWindows", err)
	}
}
