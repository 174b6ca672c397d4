package template

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of an external tool. A missing tool fails
// the test when CI=true, because CI installs it (scripts/test.sh), and
// skips it elsewhere.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found on PATH although CI=true: scripts/test.sh must install it", name)
	}
	t.Skipf("%s not found on PATH: install it (scripts/deps.sh) to run this test", name)
	return ""
}
