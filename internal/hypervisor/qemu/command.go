package qemu

import (
	"os"
	"os/exec"
)

// newCommand returns the QEMU command with stdin from /dev/null, stdout and
// stderr to log, in its own session, and "/" as working directory, where
// -daemonize moves QEMU anyway. Arguments are passed as a list; no shell
// ever parses them.
func newCommand(binary string, args []string, log *os.File) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Stdin = nil
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.Dir = "/"
	cmd.SysProcAttr = detachedAttr()
	return cmd
}
