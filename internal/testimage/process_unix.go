//go:build unix

package testimage

import (
	"os/exec"
	"syscall"
)

// terminateProcessGroupOnCancel starts cmd in its own process group and
// makes a cancelled context send SIGTERM to the whole group. mmdebstrap
// then unmounts its chroot and the build script deletes the partial build.
// SIGKILL would leave both behind.
func terminateProcessGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
}
