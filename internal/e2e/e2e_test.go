//go:build linux

// Package e2e runs the vmgenie binary end to end: a real service on a Unix
// socket, real QEMU under TCG, the Debian test guest image and real
// cloud-init inside it. Every guest runs with QEMU user networking
// restrict=on, so it reaches nothing but the SSH port forward on 127.0.0.1.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env is one service with its own data directory, config and socket.
type env struct {
	t       *testing.T
	bin     string
	dir     string
	config  string
	socket  string
	dataDir string
	logFile string
	serve   *exec.Cmd
}

var (
	vmgenieBin string
	imageDir   string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return m.Run(), nil
	}
	tmp, err := os.MkdirTemp("", "vmgenie-e2e-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	vmgenieBin = filepath.Join(tmp, "vmgenie")
	build := exec.Command("go", "build", "-o", vmgenieBin, "github.com/vmgenie/vmgenie/cmd/vmgenie")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build: %v\n%s", err, out)
	}
	script := filepath.Join(repoRoot(), "scripts", "build-test-image.sh")
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return 0, fmt.Errorf("%s: %v\n%s", script, err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	imageDir = lines[len(lines)-1]
	return m.Run(), nil
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

type imageInfo struct {
	Disk    string `json:"disk"`
	Kernel  string `json:"kernel"`
	Initrd  string `json:"initrd"`
	Cmdline string `json:"cmdline"`
}

// newEnv writes a config and starts "vmgenie serve --user" with it.
func newEnv(t *testing.T, extraConfig string) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	e := &env{t: t, bin: vmgenieBin, dir: dir,
		config: filepath.Join(dir, "config.yml"), socket: filepath.Join(dir, "s.sock"),
		dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "service.log")}
	cfg := fmt.Sprintf(`data_dir: %s
socket: %s
driver: qemu
log:
  file: %s
  level: debug
qemu:
  accel: tcg
  restrict_network: true
provision:
  ssh_timeout: 5m
  cloud_init_timeout: 10m
%s`, e.dataDir, e.socket, e.logFile, extraConfig)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	t.Cleanup(func() {
		e.cleanupVMs()
		e.stop()
		if t.Failed() {
			if log, err := os.ReadFile(e.logFile); err == nil {
				t.Logf("service log:\n%s", tail(log, 60))
			}
		}
	})
	return e
}

func tail(b []byte, lines int) string {
	all := strings.Split(string(b), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (e *env) start() {
	e.t.Helper()
	e.serve = exec.Command(e.bin, "serve", "--user", "--config", e.config, "--socket", e.socket)
	e.serve.Stdout, e.serve.Stderr = nil, nil
	e.serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.serve.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := e.run("status"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("service did not answer status within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the service at once, as a crash would.
func (e *env) kill() {
	if e.serve != nil && e.serve.Process != nil {
		_ = e.serve.Process.Kill()
		_, _ = e.serve.Process.Wait()
		e.serve = nil
	}
}

func (e *env) stop() {
	if e.serve == nil || e.serve.Process == nil {
		return
	}
	_ = e.serve.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = e.serve.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		e.kill()
	}
	e.serve = nil
}

// cleanupVMs turns off every VM the test left, so no QEMU outlives it.
func (e *env) cleanupVMs() {
	if e.serve == nil {
		return
	}
	var list []struct {
		Name string `json:"name"`
	}
	if out, _, err := e.run("ps", "-o", "json"); err == nil {
		_ = json.Unmarshal([]byte(out), &list)
	}
	for _, vm := range list {
		_, _, _ = e.run("delete", "--force", vm.Name)
	}
}

// run runs the CLI against this service and returns stdout and stderr.
func (e *env) run(args ...string) (string, string, error) {
	return e.runContext(context.Background(), args...)
}

func (e *env) runContext(ctx context.Context, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = append(os.Environ(), "VMGENIE_SOCKET="+e.socket, "VMGENIE_CONFIG="+e.config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (e *env) must(args ...string) string {
	e.t.Helper()
	out, stderr, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("vmgenie %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (e *env) importImage() {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(imageDir, "image.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var img imageInfo
	if err := json.Unmarshal(data, &img); err != nil {
		e.t.Fatal(err)
	}
	e.must("image", "import", "debian-12", filepath.Join(imageDir, img.Disk), "--os", "debian", "--version", "12",
		"--kernel", filepath.Join(imageDir, img.Kernel), "--initrd", filepath.Join(imageDir, img.Initrd),
		"--cmdline", img.Cmdline)
}

func (e *env) instanceDir(name string) string { return filepath.Join(e.dataDir, "cloud", name) }

// qemuPID returns the pid of the VM's QEMU process when it runs.
func (e *env) qemuPID(name string) (int, bool) {
	matches, _ := filepath.Glob(filepath.Join(e.instanceDir(name), "*.pid"))
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && syscall.Kill(pid, 0) == nil {
			return pid, true
		}
	}
	return 0, false
}

// qemuProcesses lists QEMU processes whose command line mentions dir.
func qemuProcesses(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, entry := range entries {
		if _, err := strconv.Atoi(entry.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
		if err != nil {
			continue
		}
		text := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(text, "qemu-system") && strings.Contains(text, dir) {
			found = append(found, entry.Name()+": "+text)
		}
	}
	return found
}

func (e *env) assertGone(name string) {
	e.t.Helper()
	if _, err := os.Stat(e.instanceDir(name)); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(e.instanceDir(name))
		var names []string
		for _, entry := range entries {
			names = append(names, entry.Name())
		}
		e.t.Errorf("instance directory of %s still exists (err %v) with %v", name, err, names)
	}
	if procs := qemuProcesses(e.instanceDir(name)); len(procs) > 0 {
		e.t.Errorf("QEMU of %s still runs: %v", name, procs)
	}
}

func (e *env) exec(name string, args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.must(append([]string{"exec", name, "--"}, args...)...))
}
