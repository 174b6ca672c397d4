//go:build unix

package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// biosSpec returns a spec that boots the test boot sector with SeaBIOS.
func biosSpec(t *testing.T, root, name string) hypervisor.Spec {
	t.Helper()
	base := writeRawImage(t, shortTempDir(t), "boot.raw", bootSector())
	return hypervisor.Spec{
		Name:        name,
		Dir:         filepath.Join(root, name),
		CPUs:        1,
		MemoryBytes: 128 * hypervisor.MiB,
		Image:       hypervisor.Image{Path: base, Format: "raw"},
		Network:     hypervisor.Network{Restrict: true},
	}
}

func TestCreateMakesOverlay(t *testing.T) {
	requireQEMU(t)
	ctx := context.Background()
	root := shortTempDir(t)
	d := newTestDriver(t, root)
	spec := biosSpec(t, root, "overlay")
	spec.DiskBytes = 64 * hypervisor.MiB
	before := fileHash(t, spec.Image.Path)

	vm, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if vm.ID != "overlay" || vm.State != hypervisor.StateOff {
		t.Errorf("Create = %+v, want id overlay and state off", vm)
	}

	disk := filepath.Join(spec.Dir, diskFileName)
	out, err := runTool(ctx, "qemu-img", "info", "--output=json", "-U", disk)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"format": "qcow2"`, `"backing-filename": "` + spec.Image.Path + `"`, `"backing-filename-format": "raw"`, `"virtual-size": 67108864`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("qemu-img info of the overlay lacks %s:\n%s", want, out)
		}
	}
	fi, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > hypervisor.MiB {
		t.Errorf("new overlay is %d bytes, want under 1 MiB", fi.Size())
	}
	if after := fileHash(t, spec.Image.Path); after != before {
		t.Error("Create changed the base image")
	}

	m, err := loadMachine(spec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.ParseMAC(m.MAC); err != nil || !strings.HasPrefix(m.MAC, "52:54:00:") {
		t.Errorf("generated MAC %q, want 52:54:00:xx:xx:xx", m.MAC)
	}
	if m.SSHHostPort < 1 || m.SSHPortFixed {
		t.Errorf("SSH port %d fixed=%v, want a picked port that is not fixed", m.SSHHostPort, m.SSHPortFixed)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	requireQEMU(t)
	ctx := context.Background()
	root := shortTempDir(t)
	d := newTestDriver(t, root)

	tests := []struct {
		name   string
		mutate func(*hypervisor.Spec)
		kind   error
		want   string
	}{
		{"disk below base size", func(s *hypervisor.Spec) { s.DiskBytes = 4096 }, hypervisor.ErrInvalidSpec, "below the base image's"},
		{"wrong base format", func(s *hypervisor.Spec) { s.Image.Format = "qcow2" }, hypervisor.ErrInvalidSpec, "is raw, not qcow2"},
		{"dir outside root", func(s *hypervisor.Spec) { s.Dir = filepath.Join(shortTempDir(t), s.Name) }, hypervisor.ErrInvalidSpec, "not a direct child"},
		{"dir named otherwise", func(s *hypervisor.Spec) { s.Dir = filepath.Join(root, "other") }, hypervisor.ErrInvalidSpec, "must be named after the VM"},
		{"missing seed", func(s *hypervisor.Spec) { s.SeedISO = filepath.Join(root, "none.iso") }, hypervisor.ErrInvalidSpec, "seed ISO"},
		{"secure boot", func(s *hypervisor.Spec) {
			s.Boot = hypervisor.Boot{Firmware: hypervisor.FirmwareUEFI, SecureBoot: true}
		}, hypervisor.ErrUnsupported, "Secure Boot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := biosSpec(t, root, "bad")
			tt.mutate(&spec)
			_, err := d.Create(ctx, spec)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Create: err = %v, want %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create: %q does not contain %q", err, tt.want)
			}
			if _, err := os.Stat(spec.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("rejected Create left %s (stat err = %v)", spec.Dir, err)
			}
		})
	}
}

// TestBIOSBootFromOverlay boots the test boot sector through SeaBIOS from
// the overlay, which checks the disk, firmware and serial log arguments.
func TestBIOSBootFromOverlay(t *testing.T) {
	requireQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := shortTempDir(t)
	d := newTestDriver(t, root)
	vm, err := d.Create(ctx, biosSpec(t, root, "bios"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Delete(context.Background(), vm.ID, hypervisor.DeleteOptions{Force: true}) })

	if err := d.Start(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(vm.Dir, serialDefault)
	if err := waitForFile(ctx, serial, bootSectorMessage); err != nil {
		data, _ := os.ReadFile(serial)
		t.Fatalf("serial log never showed %q: %v; it contains %q", bootSectorMessage, err, data)
	}
	m, err := loadMachine(vm.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.LastAccel != "tcg" || len(m.LastArgs) == 0 {
		t.Errorf("driver.json records accel %q and args %q, want tcg and the command line", m.LastAccel, m.LastArgs)
	}
	res, err := d.Stop(ctx, vm.ID, hypervisor.StopOptions{Force: true})
	if err != nil || !res.Forced {
		t.Fatalf("Stop forced = %+v, %v", res, err)
	}
}

// TestUEFIBoot starts OVMF with a per-VM copy of the variable store. The
// disk has no EFI system partition, so the firmware reports the failed
// boot entries on the serial console, which proves it ran.
func TestUEFIBoot(t *testing.T) {
	requireQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := shortTempDir(t)
	d := newTestDriver(t, root)
	spec := biosSpec(t, root, "uefi")
	spec.Image.Path = writeRawImage(t, shortTempDir(t), "empty.raw", make([]byte, hypervisor.MiB))
	spec.Boot.Firmware = hypervisor.FirmwareUEFI
	spec.MemoryBytes = 256 * hypervisor.MiB
	vm, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Delete(context.Background(), vm.ID, hypervisor.DeleteOptions{Force: true}) })

	m, err := loadMachine(vm.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.UEFICode == "" || m.UEFIVars != filepath.Join(vm.Dir, varsFileName) {
		t.Fatalf("UEFI firmware %q and variable store %q, want a code path and efivars.fd in the instance directory", m.UEFICode, m.UEFIVars)
	}
	if err := d.Start(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(vm.Dir, serialDefault)
	if err := waitForFile(ctx, serial, "BdsDxe"); err != nil {
		data, _ := os.ReadFile(serial)
		t.Fatalf("serial log never showed OVMF's boot manager: %v; it contains %q", err, data)
	}
	if err := d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.UEFIVars); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Delete left the UEFI variable store (stat err = %v)", err)
	}
}

// TestStartMovesTakenPort covers both ways the recorded SSH port can be
// taken: before Start checks it, and between that check and QEMU's bind.
func TestStartMovesTakenPort(t *testing.T) {
	requireQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := shortTempDir(t)
	d := newTestDriver(t, root)
	vm, err := d.Create(ctx, biosSpec(t, root, "port"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Delete(context.Background(), vm.ID, hypervisor.DeleteOptions{Force: true}) })

	startOnTakenPort := func(t *testing.T) {
		t.Helper()
		m, err := loadMachine(vm.Dir)
		if err != nil {
			t.Fatal(err)
		}
		taken := listen(t, m.SSHHostPort)
		if err := d.Start(ctx, vm.ID); err != nil {
			t.Fatalf("Start with the SSH port taken: %v", err)
		}
		eps, err := d.Addresses(ctx, vm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) != 1 || eps[0].Host != "127.0.0.1" || eps[0].Port == taken {
			t.Errorf("Addresses = %v, want one 127.0.0.1 endpoint off the taken port %d", eps, taken)
		}
		if m2, _ := loadMachine(vm.Dir); m2 == nil || m2.SSHHostPort != eps[0].Port {
			t.Errorf("driver.json does not record the new port %d", eps[0].Port)
		}
		if _, err := d.Stop(ctx, vm.ID, hypervisor.StopOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("taken before start", startOnTakenPort)
	t.Run("taken at QEMU bind", func(t *testing.T) {
		// Make the pre-check pass, so QEMU itself fails to bind the port
		// and Start must retry with another one.
		portIsFree = func(int) bool { return true }
		t.Cleanup(func() { portIsFree = portFree })
		startOnTakenPort(t)
	})
}

func TestStartFixedPortTaken(t *testing.T) {
	requireQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := shortTempDir(t)
	d := newTestDriver(t, root)
	spec := biosSpec(t, root, "fixed")
	port, err := freePort(nil)
	if err != nil {
		t.Fatal(err)
	}
	spec.SSH.HostPort = port
	vm, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Delete(context.Background(), vm.ID, hypervisor.DeleteOptions{Force: true}) })
	listen(t, port)

	err = d.Start(ctx, vm.ID)
	if err == nil || !strings.Contains(err.Error(), "SSH port "+strconv.Itoa(port)+" on 127.0.0.1 is in use") {
		t.Fatalf("Start with a taken fixed port: err = %v, want it to name the port", err)
	}
	if st, _ := d.State(ctx, vm.ID); st != hypervisor.StateOff {
		t.Errorf("State after failed Start = %q, want off", st)
	}
}

// TestKilledQEMUReadsOff kills QEMU behind the driver's back: the stale
// pid file and socket must read as Off, and Start must work again.
func TestKilledQEMUReadsOff(t *testing.T) {
	requireQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := shortTempDir(t)
	d := newTestDriver(t, root)
	vm, err := d.Create(ctx, biosSpec(t, root, "killed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Delete(context.Background(), vm.ID, hypervisor.DeleteOptions{Force: true}) })
	if err := d.Start(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	m, err := loadMachine(vm.Dir)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := runningPID(m)
	if err != nil || pid == 0 {
		t.Fatalf("runningPID = %d, %v; want the QEMU pid", pid, err)
	}
	if err := killProcess(pid); err != nil {
		t.Fatal(err)
	}
	if !waitExit(ctx, m, pid, 10*time.Second) {
		t.Fatal("QEMU did not exit after SIGKILL")
	}
	if _, err := os.Stat(m.PIDFile); err != nil {
		t.Fatalf("pid file gone after SIGKILL (%v); the test needs a stale one", err)
	}

	if st, err := d.State(ctx, vm.ID); err != nil || st != hypervisor.StateOff {
		t.Errorf("State with a stale pid file = %q, %v; want off", st, err)
	}
	if err := d.Start(ctx, vm.ID); err != nil {
		t.Fatalf("Start over a stale pid file and socket: %v", err)
	}
	if st, err := d.State(ctx, vm.ID); err != nil || st != hypervisor.StateRunning {
		t.Errorf("State after restart = %q, %v; want running", st, err)
	}
}

// TestLongDirUsesRuntimeSocket checks that an instance directory too long
// for a Unix socket path gets its QMP socket in the runtime directory.
func TestLongDirUsesRuntimeSocket(t *testing.T) {
	requireQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := filepath.Join(shortTempDir(t), strings.Repeat("r", 60))
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	runtimeDir := filepath.Join(shortTempDir(t), "run")
	d, err := New(Config{Root: root, Accel: AccelTCG, RuntimeDir: runtimeDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("n", 50)
	vm, err := d.Create(ctx, biosSpec(t, root, name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := loadMachine(vm.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(m.QMPSocket) != runtimeDir || len(m.QMPSocket) > maxSocketPath {
		t.Fatalf("QMP socket %s, want a short path in %s", m.QMPSocket, runtimeDir)
	}
	if fi, err := os.Stat(runtimeDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("runtime directory mode = %v (err %v), want 0700", fi.Mode().Perm(), err)
	}
	if err := d.Start(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := d.State(ctx, vm.ID); err != nil || st != hypervisor.StateRunning {
		t.Errorf("State = %q, %v; want running over the runtime socket", st, err)
	}
	if err := d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.QMPSocket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Delete left the QMP socket %s (stat err = %v)", m.QMPSocket, err)
	}
}

func TestRuntimeDirMustBePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ensurePrivateDir(dir); err == nil || !strings.Contains(err.Error(), "mode 0700") {
		t.Errorf("ensurePrivateDir on a 0755 directory: err = %v, want a mode error", err)
	}
}

func listen(t *testing.T, port int) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("occupy port %d: %v", port, err)
	}
	t.Cleanup(func() { l.Close() })
	return port
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
