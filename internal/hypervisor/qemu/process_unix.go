//go:build unix

package qemu

import (
	"errors"
	"syscall"
)

// detachedAttr starts QEMU in a new session, so signals for the caller's
// terminal or process group (Ctrl-C on the CLI, a service stop) do not
// reach the VM. QEMU's -daemonize then forks it away from the caller.
func detachedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

// processAlive reports whether pid names a process that has not exited.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !isZombie(pid)
}

// killProcess sends SIGKILL to pid.
func killProcess(pid int) error {
	return syscall.Kill(pid, syscall.SIGKILL)
}

// canRun reports whether this platform can start QEMU VMs.
func canRun() error { return nil }
