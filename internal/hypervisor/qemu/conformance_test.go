//go:build unix

package qemu

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/drivertest"
	"github.com/vmgenie/vmgenie/internal/testimage"
)

// seedMarker is what the conformance guest's cloud-init bootcmd writes to
// the serial console. Seeing it proves the guest found the seed ISO on the
// virtio-scsi CD drive and read its user-data.
const seedMarker = "vmgenie-seed-read"

// TestConformance runs the driver conformance suite against real QEMU
// (TCG) with the Debian 12 test image, booted directly from its kernel.
func TestConformance(t *testing.T) {
	requireQEMU(t)
	img := testimage.Load(t)

	root := shortTempDir(t)
	isoDir := shortTempDir(t)
	seed := makeSeedISO(t, isoDir)
	other := makeISO(t, isoDir, "other.iso", "OTHER")

	fx := drivertest.Fixture{
		Spec: func(t *testing.T, name string) hypervisor.Spec {
			return hypervisor.Spec{
				Name:        name,
				Dir:         filepath.Join(root, name),
				CPUs:        2,
				MemoryBytes: 1024 * hypervisor.MiB,
				Image:       hypervisor.Image{Path: img.Disk, Format: img.Format},
				Boot:        hypervisor.Boot{Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: img.Cmdline},
				SeedISO:     seed,
				Network:     hypervisor.Network{Restrict: true},
			}
		},
		ISO:        other,
		WaitBooted: waitBooted,
		CheckGone: func(t *testing.T, vm hypervisor.VM) {
			if pids := qemuProcessesFor(t, vm.Dir); len(pids) > 0 {
				t.Errorf("QEMU processes for %s still run after Delete: %v", vm.Dir, pids)
			}
		},
		BootTimeout: 4 * time.Minute,
		StopTimeout: 90 * time.Second,
	}
	drivertest.Run(t, func(t *testing.T) hypervisor.Driver { return newTestDriver(t, root) }, fx)
}

// makeSeedISO writes a NoCloud seed ISO (label cidata) whose user-data
// prints seedMarker to the serial console early in boot.
func makeSeedISO(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "seed")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"meta-data": "instance-id: conformance\nlocal-hostname: conformance\n",
		"user-data": "#cloud-config\nbootcmd:\n  - echo " + seedMarker + " > /dev/ttyS0\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(dir, "seed.iso")
	out, err := runTool(context.Background(), "xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r", "-o", iso, src)
	if err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	return iso
}

// waitBooted waits until the guest has read its seed ISO and its SSH server
// sends a banner through the port forward. By then systemd-logind runs,
// which turns the ACPI power button into a clean shutdown.
func waitBooted(ctx context.Context, t *testing.T, d hypervisor.Driver, vm hypervisor.VM) error {
	serial := filepath.Join(vm.Dir, serialDefault)
	if err := waitForFile(ctx, serial, seedMarker); err != nil {
		return fmt.Errorf("serial log %s never showed %q (the guest did not read the seed ISO): %w", serial, seedMarker, err)
	}
	t.Logf("guest read the seed ISO")

	eps, err := d.Addresses(ctx, vm.ID)
	if err != nil {
		return err
	}
	for {
		banner, err := sshBanner(ctx, eps[0].String())
		if err == nil && strings.HasPrefix(banner, "SSH-2.0-") {
			t.Logf("SSH banner %q on %s", banner, eps[0])
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no SSH banner on %s: last error %v: %w", eps[0], err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// sshBanner reads the first line an SSH server sends on addr.
func sshBanner(ctx context.Context, addr string) (string, error) {
	dialer := net.Dialer{Timeout: 5 * time.Second}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}
