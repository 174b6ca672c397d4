//go:build unix

package qemu

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// requireQEMU skips the test when QEMU or qemu-img is missing, except in
// CI (CI=true), where scripts/test.sh installs them and a missing binary is
// a failure.
func requireQEMU(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the qemu driver runs no VMs on Windows")
	}
	p, err := platformFor(runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	for _, bin := range []string{p.binary, "qemu-img"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing in CI; scripts/test.sh installs it: %v", bin, err)
			}
			t.Skipf("%s is not installed (Debian: apt-get install qemu-system-x86 qemu-utils): %v", bin, err)
		}
	}
}

// testLogger returns a logger that writes to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newTestDriver returns a TCG driver over root.
func newTestDriver(t *testing.T, root string) *Driver {
	t.Helper()
	d, err := New(Config{Root: root, Accel: AccelTCG, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// shortTempDir returns a temporary directory with a short path, so that
// QMP sockets inside it fit the Unix socket path limit. t.TempDir would
// embed the test name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// bootSectorMessage is what the test boot sector writes to COM1.
const bootSectorMessage = "vmgenie-bios-boot-ok"

// bootSector returns a 1 MiB raw disk whose MBR boot code writes
// bootSectorMessage to the first serial port (I/O port 0x3f8) and halts.
func bootSector() []byte {
	code := []byte{
		0x31, 0xC0, // xor ax, ax
		0x8E, 0xD8, // mov ds, ax
		0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0xBE, 0x00, 0x00, // mov si, msg (patched below)
		0xAC,       // next: lodsb
		0x84, 0xC0, // test al, al
		0x74, 0x03, // jz halt
		0xEE,       // out dx, al
		0xEB, 0xF8, // jmp next
		0xFA,       // halt: cli
		0xF4,       // hlt
		0xEB, 0xFD, // jmp hlt
	}
	msg := 0x7C00 + len(code)
	code[8], code[9] = byte(msg), byte(msg>>8)
	disk := make([]byte, hypervisor.MiB)
	copy(disk, code)
	copy(disk[len(code):], bootSectorMessage+"\r\n\x00")
	disk[510], disk[511] = 0x55, 0xAA
	return disk
}

// writeRawImage writes data as a raw base image and returns its path.
func writeRawImage(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// makeISO writes an ISO 9660 image with one file and volume label label.
func makeISO(t *testing.T, dir, name, label string) string {
	t.Helper()
	src := filepath.Join(dir, name+".d")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "meta-data"), []byte("instance-id: "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, name)
	out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", label, "-J", "-r", "-o", iso, src).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	return iso
}

// waitForFile polls path until it contains want or ctx ends.
func waitForFile(ctx context.Context, path, want string) error {
	for {
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte(want)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// qemuProcessesFor returns the pids of processes whose command line
// mentions dir, read from /proc.
func qemuProcessesFor(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.HasPrefix(cmdline, []byte("qemu-system")) && !bytes.Contains(cmdline, []byte("/qemu-system")) {
			continue
		}
		if bytes.Contains(cmdline, []byte(dir+"/")) && !isZombie(pidOf(e.Name())) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func pidOf(name string) int {
	pid, err := strconv.Atoi(name)
	if err != nil {
		return -1
	}
	return pid
}
