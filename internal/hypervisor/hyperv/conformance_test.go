package hyperv

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/drivertest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

func TestMain(m *testing.M) {
	hypervtest.MainIfDouble()
	os.Exit(m.Run())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is a driver test environment: an instance root, image files, and a
// Hyper-V double.
type env struct {
	root, base, seed, otherISO string
	model                      *hypervtest.Model
	starter                    pshost.Starter
}

func newEnv(t *testing.T, opts hypervtest.Options) *env {
	t.Helper()
	files := t.TempDir()
	e := &env{
		root:     t.TempDir(),
		base:     filepath.Join(files, "base.vhdx"),
		seed:     filepath.Join(files, "seed.iso"),
		otherISO: filepath.Join(files, "other.iso"),
		model:    hypervtest.NewModel(opts),
	}
	for _, f := range []string{e.base, e.seed, e.otherISO} {
		if err := os.WriteFile(f, []byte("image "+filepath.Base(f)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.starter = hypervtest.InProcessStarter{Backend: e.model}
	return e
}

// driver returns a new driver with its own PowerShell host on the shared
// double, as a restarted service would have.
func (e *env) driver(t *testing.T) *Driver {
	t.Helper()
	host, err := pshost.New(pshost.Config{Starter: e.starter, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Root: e.root, Host: host, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		host.Close()
	})
	return d
}

func (e *env) spec(name string) hypervisor.Spec {
	return hypervisor.Spec{
		Name:        name,
		Dir:         filepath.Join(e.root, name),
		CPUs:        2,
		MemoryBytes: 1024 * hypervisor.MiB,
		Image:       hypervisor.Image{Path: e.base, Format: "vhdx"},
		Boot:        hypervisor.Boot{Firmware: hypervisor.FirmwareUEFI, SecureBoot: true},
		SeedISO:     e.seed,
	}
}

func TestConformance(t *testing.T) {
	e := newEnv(t, hypervtest.Options{EmptyAddressPolls: 1})
	drivertest.Run(t, func(t *testing.T) hypervisor.Driver { return e.driver(t) }, drivertest.Fixture{
		Spec: func(t *testing.T, name string) hypervisor.Spec { return e.spec(name) },
		ISO:  e.otherISO,
		CheckGone: func(t *testing.T, vm hypervisor.VM) {
			if _, ok := e.model.VM(vm.ID); ok {
				t.Errorf("the double still has VM %s after Delete", vm.ID)
			}
			if _, err := os.Stat(filepath.Join(vm.Dir, vmDirName)); !os.IsNotExist(err) {
				t.Errorf("the Hyper-V directory of %s remains after Delete (stat err = %v)", vm.ID, err)
			}
		},
	})
}
