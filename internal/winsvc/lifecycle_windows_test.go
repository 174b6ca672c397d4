//go:build windows

package winsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/client"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/winetest"
)

// testExeEnv names the variable with the path of the vmgenie.exe that the
// lifecycle test installs as a service. scripts/test-windows.sh sets it.
const testExeEnv = "VMGENIE_TEST_EXE"

// lifecycle runs the vmgenie.exe under test with a config of its own.
type lifecycle struct {
	t      *testing.T
	exe    string
	config string
	pipe   string
	data   string
}

// run runs vmgenie.exe with args and returns its exit code and output.
func (l *lifecycle) run(args ...string) (int, string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args = append([]string{"--config", l.config}, args...)
	out, err := exec.CommandContext(ctx, l.exe, args...).CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), string(out)
	}
	l.t.Fatalf("running vmgenie %s failed: %v\n%s", strings.Join(args, " "), err, out)
	return 0, ""
}

// mustRun runs vmgenie.exe and fails the test unless it exits with 0.
func (l *lifecycle) mustRun(args ...string) string {
	l.t.Helper()
	code, out := l.run(args...)
	if code != 0 {
		l.t.Fatalf("vmgenie %s exited with %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func (l *lifecycle) query(wantState string) Status {
	l.t.Helper()
	st, err := QueryStatus()
	if err != nil {
		l.t.Fatalf("QueryStatus: %v", err)
	}
	if st.State != wantState {
		l.t.Fatalf("service state = %q, want %q (status %+v)", st.State, wantState, st)
	}
	return st
}

// TestServiceLifecycle installs vmgenie.exe as the Windows service, starts,
// queries, calls, stops, starts and deletes it, with the CLI as a user
// would and with the service control manager's own view. Under Wine this
// test process keeps the prefix alive, because Wine ends services a few
// seconds after the last ordinary process exits.
func TestServiceLifecycle(t *testing.T) {
	exe := os.Getenv(testExeEnv)
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: scripts/test-windows.sh sets it to the vmgenie.exe to install", testExeEnv)
		}
		t.Skipf("set %s to a vmgenie.exe to install it as a service; scripts/test-windows.sh does", testExeEnv)
	}
	if st, err := QueryStatus(); err != nil {
		t.Fatalf("QueryStatus: %v", err)
	} else if st.Installed {
		t.Fatalf("a %s service is already installed (%s); this test installs and deletes its own, so run it where none is installed", Name, st.BinaryPath)
	}

	dir := winetest.TempDir(t)
	l := &lifecycle{
		t:      t,
		exe:    exe,
		config: filepath.Join(dir, "config.yml"),
		pipe:   fmt.Sprintf(`\\.\pipe\vmgenie-lifecycle-%d`, os.Getpid()),
		data:   filepath.Join(dir, "data"),
	}
	config := fmt.Sprintf("data_dir: '%s'\nsocket: '%s'\ndriver: none\nlog:\n  level: debug\n", l.data, l.pipe)
	if err := os.WriteFile(l.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if st, err := QueryStatus(); err == nil && st.Installed {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := Uninstall(ctx); err != nil {
				t.Errorf("removing the test service failed: %v", err)
			}
		}
	})

	// Install starts the service.
	out := l.mustRun("service", "install")
	for _, want := range []string{"Installed and started", l.data} {
		if !strings.Contains(out, want) {
			t.Errorf("install output does not contain %q:\n%s", want, out)
		}
	}
	st := l.query("running")
	if st.StartType != "automatic" {
		t.Errorf("start type = %q, want automatic", st.StartType)
	}
	for _, want := range []string{"serve", "--windows-service", "--config", l.config} {
		if !strings.Contains(st.BinaryPath, want) {
			t.Errorf("service command line %q does not contain %q", st.BinaryPath, want)
		}
	}
	if st.PID == 0 {
		t.Error("the running service has no process id")
	}

	// The CLI reads the same state.
	var cliStatus struct {
		Manager   string `json:"manager"`
		Installed bool   `json:"installed"`
		State     string `json:"state"`
	}
	out = l.mustRun("service", "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &cliStatus); err != nil {
		t.Fatalf("service status -o json printed %q: %v", out, err)
	}
	if cliStatus.Manager != "windows" || !cliStatus.Installed || cliStatus.State != "running" {
		t.Errorf("service status = %+v, want windows, installed, running", cliStatus)
	}

	// sc.exe, the system's own tool, reports the same state.
	scOut, err := exec.Command("sc.exe", "query", Name).CombinedOutput()
	if err != nil {
		t.Errorf("sc query %s: %v\n%s", Name, err, scOut)
	} else if !strings.Contains(string(scOut), "RUNNING") {
		t.Errorf("sc query %s does not show RUNNING:\n%s", Name, scOut)
	}

	l.checkServes(st.PID)

	// Stop, start again, and delete.
	if out := l.mustRun("service", "stop"); !strings.Contains(out, "Service stopped.") {
		t.Errorf("stop output = %q, want \"Service stopped.\"", out)
	}
	l.query("stopped")
	logFile := filepath.Join(l.data, "logs", "vmgenie.log")
	logData, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("reading the service log: %v", err)
	}
	for _, want := range []string{"configuration loaded", "request"} {
		if !strings.Contains(string(logData), want) {
			t.Errorf("the service log %s has no %q line:\n%s", logFile, want, logData)
		}
	}

	l.mustRun("service", "start")
	l.query("running")

	if out := l.mustRun("service", "uninstall"); !strings.Contains(out, "Service removed.") {
		t.Errorf("uninstall output = %q, want \"Service removed.\"", out)
	}
	if st, err := QueryStatus(); err != nil || st.Installed {
		t.Errorf("after uninstall: status %+v, error %v; want not installed", st, err)
	}
	if code, out := l.run("service", "stop"); code == 0 {
		t.Errorf("service stop after uninstall exited with 0, want an error:\n%s", out)
	}
}

// checkServes calls the running service through its pipe: status from the
// CLI and the client, and provision, which a service with driver none
// rejects with code unavailable.
func (l *lifecycle) checkServes(pid uint32) {
	t := l.t
	t.Helper()
	if err := winetest.PrimePipe(l.pipe); err != nil {
		t.Fatal(err)
	}

	var status struct {
		Details string `json:"details"`
		PID     uint32 `json:"pid"`
		Driver  string `json:"driver"`
	}
	out := l.mustRun("status", "--socket", l.pipe, "-o", "json")
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatalf("status -o json printed %q: %v", out, err)
	}
	if status.Details != "Service is running." || status.PID != pid {
		t.Errorf("status = %+v, want \"Service is running.\" from the service's process %d", status, pid)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.New(l.pipe).Call(ctx, "provision", map[string]any{"template": "ubuntu-24.04", "vm_name": "testvm"})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeUnavailable {
		t.Errorf("provision on a service with driver none = %v, want code unavailable", err)
	}
}
