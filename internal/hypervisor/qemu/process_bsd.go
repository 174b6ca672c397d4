//go:build unix && !linux

package qemu

import (
	"os/exec"
	"strconv"
	"strings"
)

// isZombie reports false: ps in isQEMUFor does not list zombies with their
// arguments, so they fail that check instead.
func isZombie(int) bool { return false }

// isQEMUFor reports whether pid runs QEMU with the pid file pidFile. ps
// prints the arguments joined by spaces, so the check splits on spaces and
// fails for a pid file path that contains one.
// NOTE: only compiled, never run, on macOS and the BSDs.
func isQEMUFor(pid int, pidFile string) bool {
	out, err := exec.Command("ps", "-ww", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return false
	}
	return looksLikeQEMU(strings.Fields(string(out)), pidFile)
}
