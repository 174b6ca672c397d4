//go:build unix

package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestReadPIDFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content *string
		want    int
		wantErr bool
	}{
		{"missing", nil, 0, false},
		{"empty", ptr(""), 0, false},
		{"qemu format", ptr("29581\n"), 29581, false},
		{"spaces", ptr("  42 \n"), 42, false},
		{"garbage", ptr("abc\n"), 0, true},
		{"zero", ptr("0\n"), 0, true},
		{"negative", ptr("-5\n"), 0, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strconv.Itoa(i)+".pid")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readPIDFile(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("readPIDFile: err = %v, want error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("readPIDFile = %d, want %d", got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestLooksLikeQEMU(t *testing.T) {
	const pidFile = "/data/demo/qemu.pid"
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"ours", []string{"/usr/bin/qemu-system-x86_64", "-name", "guest=demo", "-pidfile", pidFile, "-daemonize"}, true},
		{"ours from PATH", []string{"qemu-system-aarch64", "-pidfile", pidFile}, true},
		{"other pid file", []string{"qemu-system-x86_64", "-pidfile", "/data/other/qemu.pid"}, false},
		{"not qemu", []string{"/bin/sleep", "-pidfile", pidFile}, false},
		{"pid file as last word", []string{"qemu-system-x86_64", "-pidfile"}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := looksLikeQEMU(tt.args, pidFile); got != tt.want {
				t.Errorf("looksLikeQEMU(%q) = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}

// TestRunningPIDStale covers pid files that must read as "no QEMU": a
// process that exited, and a live process that is not our QEMU.
func TestRunningPIDStale(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the qemu driver starts no processes on Windows")
	}
	m := testMachine()
	m.PIDFile = filepath.Join(t.TempDir(), "qemu.pid")

	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	writePID(t, m.PIDFile, cmd.Process.Pid)
	if !processAlive(cmd.Process.Pid) {
		t.Fatal("processAlive(sleep) = false, want true")
	}
	if pid, err := runningPID(m); err != nil || pid != 0 {
		t.Errorf("runningPID with a live non-QEMU process = %d, %v; want 0, nil", pid, err)
	}

	cmd.Process.Kill()
	cmd.Wait()
	if processAlive(cmd.Process.Pid) {
		t.Error("processAlive after kill and wait = true, want false")
	}
	if pid, err := runningPID(m); err != nil || pid != 0 {
		t.Errorf("runningPID with an exited process = %d, %v; want 0, nil", pid, err)
	}
}

// TestProcessAliveZombie checks that an exited child that was not reaped
// yet counts as gone, as a daemonized QEMU can linger as a zombie of init.
func TestProcessAliveZombie(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("zombie detection reads /proc, which only Linux has")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	for i := 0; i < 100 && !isZombie(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !isZombie(pid) {
		t.Fatalf("child %d never became a zombie", pid)
	}
	if processAlive(pid) {
		t.Errorf("processAlive(zombie %d) = true, want false", pid)
	}
}

func writePID(t *testing.T, path string, pid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
