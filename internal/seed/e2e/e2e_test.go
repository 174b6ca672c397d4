package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vmgenie/vmgenie/internal/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vmgenie": func() { os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// requiredTools are the programs the scripts read images back with.
// scripts/test.sh installs them, so CI fails when one is missing.
var requiredTools = []string{"isoinfo", "blkid", "cloud-localds"}

func TestSeedCommands(t *testing.T) {
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing; scripts/test.sh installs it", tool)
			}
			t.Skipf("skipping: %s is not installed; scripts/test.sh installs it", tool)
		}
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}
