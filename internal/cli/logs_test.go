package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/logging"
)

// writeLogLines appends "line N" for N in [from, to) to w.
func writeLogLines(t *testing.T, w interface{ Write([]byte) (int, error) }, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLogsPrintsLastLines(t *testing.T) {
	configPath, dataDir := writeConfig(t, "")
	logFile := filepath.Join(dataDir, "logs", "vmgenie.log")
	os.MkdirAll(filepath.Dir(logFile), 0o750)
	os.WriteFile(logging.BackupPath(logFile, 1), []byte("line 0\nline 1\n"), 0o600)
	os.WriteFile(logFile, []byte("line 2\nline 3\nline 4\n"), 0o600)

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-n", "2"}, "line 3\nline 4\n"},
		{[]string{"--lines", "4"}, "line 1\nline 2\nline 3\nline 4\n"},
		{[]string{"-n", "0"}, ""},
		{nil, "line 0\nline 1\nline 2\nline 3\nline 4\n"},
	}
	for _, tt := range tests {
		args := append([]string{"logs", "--user", "--config", configPath}, tt.args...)
		code, out, errOut := run(args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", tt.args, code, errOut)
			continue
		}
		if out != tt.want {
			t.Errorf("%v: printed %q, want %q", tt.args, out, tt.want)
		}
	}
}

func TestLogsMissingFile(t *testing.T) {
	configPath, dataDir := writeConfig(t, "")
	code, _, errOut := run("logs", "--user", "--config", configPath)
	want := "log file " + filepath.Join(dataDir, "logs", "vmgenie.log") + " not found"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, stderr %q: want %q", code, errOut, want)
	}
}

func TestLogsRejectsNegativeLines(t *testing.T) {
	code, _, errOut := run("logs", "--user", "-n", "-3")
	if code != 1 || !strings.Contains(errOut, "invalid -n -3") {
		t.Errorf("exit %d, stderr %q: want invalid -n", code, errOut)
	}
}

func TestLogsFollowsAcrossRotation(t *testing.T) {
	configPath, dataDir := writeConfig(t, "log:\n  max_files: 2\n")
	logFile := filepath.Join(dataDir, "logs", "vmgenie.log")
	// 40 bytes hold five "line N\n" lines, so the writes below rotate.
	w, err := logging.OpenRotatingFile(logFile, 40, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeLogLines(t, w, 0, 3)

	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runContext(ctx, stdout, stderr, "logs", "--user", "--config", configPath, "-f", "-n", "1")
	}()

	waitForOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for stdout.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("output = %q, want %q (stderr %q)", stdout.String(), want, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitForOutput("line 2\n")
	writeLogLines(t, w, 3, 12)
	waitForOutput("line 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nline 11\n")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not return after cancel")
	}
	if _, err := os.Stat(logging.BackupPath(logFile, 1)); err != nil {
		t.Errorf("the log was not rotated during the test: %v", err)
	}
}
