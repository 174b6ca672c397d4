package qemu

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// isZombie reports whether pid has exited but was not reaped yet. A
// daemonized QEMU is reparented to init or a subreaper, which may reap it
// late, and kill(pid, 0) still succeeds on a zombie. The main thread of a
// multi-threaded process turns zombie before its other threads have exited
// and closed the process's files (sockets, disk locks), so a zombie with
// threads left still counts as running.
func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	if data[i+2] != 'Z' && data[i+2] != 'X' {
		return false
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err != nil || len(tasks) <= 1
}

// isQEMUFor reports whether pid runs QEMU with the pid file pidFile.
func isQEMUFor(pid int, pidFile string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return looksLikeQEMU(strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00"), pidFile)
}
