package qemu

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// readPIDFile returns the process id QEMU wrote to path, or 0 when the file
// does not exist or is empty (QEMU creates it before writing the number).
func readPIDFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s contains %q, not a process id; delete the file if no QEMU runs for this VM", path, text)
	}
	return pid, nil
}

// runningPID returns the id of the QEMU process that runs m, or 0 when
// none does. A pid file whose process is gone, is a zombie, or is not a
// QEMU started with this pid file (the id was reused) means no process.
func runningPID(m *machine) (int, error) {
	pid, err := readPIDFile(m.PIDFile)
	if err != nil || pid == 0 {
		return 0, err
	}
	if !processAlive(pid) || !isQEMUFor(pid, m.PIDFile) {
		return 0, nil
	}
	return pid, nil
}

// looksLikeQEMU reports whether args (a command line) run a QEMU system
// emulator with the pid file pidFile.
func looksLikeQEMU(args []string, pidFile string) bool {
	if len(args) == 0 || !strings.HasPrefix(baseName(args[0]), "qemu-system-") {
		return false
	}
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-pidfile" && args[i+1] == pidFile {
			return true
		}
	}
	return false
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
