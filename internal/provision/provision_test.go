package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/image"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/template"
)

// fakeDriver records calls and makes a file in the instance directory for
// each VM, as a real driver's disk would be, so cleanup can be checked.
type fakeDriver struct {
	mu       sync.Mutex
	vms      map[string]string // id -> dir
	calls    []string
	startErr error
	// port is what Addresses returns; nothing listens there.
	port int
	// onCreate runs in Create with the instance directory.
	onCreate func(dir string)
}

func (d *fakeDriver) record(call string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
}

func (d *fakeDriver) Name() string                          { return "fake" }
func (d *fakeDriver) Capabilities() hypervisor.Capabilities { return hypervisor.Capabilities{} }

func (d *fakeDriver) Create(_ context.Context, spec hypervisor.Spec) (hypervisor.VM, error) {
	d.record("create " + spec.Name)
	if d.onCreate != nil {
		d.onCreate(spec.Dir)
	}
	if err := os.WriteFile(filepath.Join(spec.Dir, "disk.qcow2"), []byte("overlay"), 0o600); err != nil {
		return hypervisor.VM{}, err
	}
	d.mu.Lock()
	d.vms[spec.Name] = spec.Dir
	d.mu.Unlock()
	return hypervisor.VM{ID: spec.Name, Name: spec.Name, Dir: spec.Dir, State: hypervisor.StateOff}, nil
}

func (d *fakeDriver) Start(_ context.Context, id string) error {
	d.record("start " + id)
	return d.startErr
}

func (d *fakeDriver) Stop(context.Context, string, hypervisor.StopOptions) (hypervisor.StopResult, error) {
	return hypervisor.StopResult{}, nil
}
func (d *fakeDriver) Pause(context.Context, string) error  { return nil }
func (d *fakeDriver) Resume(context.Context, string) error { return nil }

func (d *fakeDriver) Delete(_ context.Context, id string, opts hypervisor.DeleteOptions) error {
	d.record("delete " + id)
	d.mu.Lock()
	defer d.mu.Unlock()
	dir, ok := d.vms[id]
	if !ok {
		return hypervisor.NotFound("fake", "delete", id)
	}
	delete(d.vms, id)
	return os.Remove(filepath.Join(dir, "disk.qcow2"))
}

func (d *fakeDriver) State(context.Context, string) (hypervisor.State, error) {
	return hypervisor.StateRunning, nil
}
func (d *fakeDriver) Inspect(context.Context, string) (hypervisor.VM, error) {
	return hypervisor.VM{}, nil
}
func (d *fakeDriver) Addresses(context.Context, string) ([]hypervisor.Endpoint, error) {
	return []hypervisor.Endpoint{{Host: "127.0.0.1", Port: d.port}}, nil
}
func (d *fakeDriver) SwapISO(context.Context, string, string) error { return nil }
func (d *fakeDriver) List(context.Context) ([]hypervisor.VM, error) { return nil, nil }

type fixture struct {
	p      *Provisioner
	driver *fakeDriver
	store  *instance.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dataDir := t.TempDir()
	store, err := instance.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	images, err := image.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := images.Import(image.ImportOptions{Name: "debian-12", File: disk, OS: "debian", Version: "12"}); err != nil {
		t.Fatal(err)
	}
	driver := &fakeDriver{vms: map[string]string{}, port: 1}
	p := New(Config{
		Store: store, Images: images, Driver: driver, Restrict: true,
		Catalog:    func() (*template.Catalog, error) { return template.Load("") },
		SSHTimeout: time.Minute, CloudInitTimeout: time.Minute,
	})
	return &fixture{p: p, driver: driver, store: store}
}

func (f *fixture) assertNothingLeft(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat(f.store.Dir(name)); !os.IsNotExist(err) {
		t.Errorf("instance directory of %s still exists (stat err %v)", name, err)
	}
	if len(f.driver.vms) != 0 {
		t.Errorf("driver still has VMs %v", f.driver.vms)
	}
}

func noProgress(string, string, int) {}

func TestProvisionStartFailureRollsBack(t *testing.T) {
	f := newFixture(t)
	f.driver.startErr = errors.New("qemu exited: boom")
	_, err := f.p.Provision(context.Background(), Request{Name: "vm1", OS: "debian", Version: "12"}, noProgress)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the start error", err)
	}
	f.assertNothingLeft(t, "vm1")
	if got := strings.Join(f.driver.calls, ","); got != "create vm1,start vm1,delete vm1" {
		t.Errorf("driver calls = %s, want create, start, delete", got)
	}
}

func TestProvisionCancelRollsBack(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	stages := make(chan string, 100)
	report := func(stage, _ string, _ int) {
		stages <- stage
		if stage == "wait_ssh" {
			cancel()
		}
	}
	_, err := f.p.Provision(ctx, Request{Name: "vm2", OS: "debian", Version: "12"}, report)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	f.assertNothingLeft(t, "vm2")
	close(stages)
	var seen []string
	for s := range stages {
		seen = append(seen, s)
	}
	if !strings.Contains(strings.Join(seen, ","), "wait_ssh,rollback") {
		t.Errorf("stages = %v, want wait_ssh then rollback", seen)
	}
}

func TestProvisionSSHTimeoutIsTimeout(t *testing.T) {
	f := newFixture(t)
	_, err := f.p.Provision(context.Background(), Request{Name: "vm3", OS: "debian", Version: "12", SSHTimeout: 300 * time.Millisecond}, noProgress)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(f.store.Dir("vm3"), "serial.log")) {
		t.Errorf("err = %q, want it to name the serial log", err)
	}
	f.assertNothingLeft(t, "vm3")
}

func TestProvisionValidationCreatesNothing(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		kind error
		want string
	}{
		{"bad variable", Request{Name: "vm4", OS: "debian", Version: "12", Vars: []string{"TIMEZONE=Mars/Base"}}, ErrInvalid, "Mars/Base"},
		{"reserved variable", Request{Name: "vm4", OS: "debian", Version: "12", Vars: []string{"HOSTNAME=x"}}, ErrInvalid, "set by vmgenie"},
		{"unknown template", Request{Name: "vm4", OS: "debian", Version: "99"}, ErrNotFound, "debian 99"},
		{"missing image", Request{Name: "vm4", OS: "ubuntu", Version: "24.04"}, ErrNotFound, "vmgenie image import ubuntu-24.04"},
		{"image of another OS", Request{Name: "vm4", OS: "ubuntu", Version: "24.04", Image: "debian-12"}, ErrInvalid, "is debian 12"},
		{"bad name", Request{Name: "Bad", OS: "debian", Version: "12"}, ErrInvalid, "uppercase"},
		{"packages without network", Request{Name: "vm4", OS: "debian", Version: "12", Vars: []string{"PACKAGES=htop"}}, ErrInvalid, "cannot install packages"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.p.Provision(context.Background(), tc.req, noProgress)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
			if len(f.driver.calls) != 0 {
				t.Errorf("driver calls = %v, want none", f.driver.calls)
			}
			f.assertNothingLeft(t, tc.req.Name)
		})
	}
}

func TestProvisionExistingNameIsConflict(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(f.store.Dir("taken"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Provision(context.Background(), Request{Name: "taken", OS: "debian", Version: "12"}, noProgress)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if _, statErr := os.Stat(f.store.Dir("taken")); statErr != nil {
		t.Errorf("the existing directory was removed: %v", statErr)
	}
}

func TestProvisionFailureKeepsSerialLog(t *testing.T) {
	f := newFixture(t)
	f.driver.startErr = errors.New("boom")
	// The fake driver writes no console output, so write it as QEMU would.
	f.driver.onCreate = func(dir string) {
		_ = os.WriteFile(filepath.Join(dir, "serial.log"), []byte("[    0.000000] Linux version 6.1\n"), 0o600)
	}
	_, err := f.p.Provision(context.Background(), Request{Name: "vm5", OS: "debian", Version: "12"}, noProgress)
	if err == nil || !strings.Contains(err.Error(), "serial log was kept at ") {
		t.Fatalf("err = %v, want it to name the kept serial log", err)
	}
	kept := err.Error()[strings.LastIndex(err.Error(), " ")+1:]
	data, readErr := os.ReadFile(kept)
	if readErr != nil || !strings.Contains(string(data), "Linux version") {
		t.Errorf("kept serial log %s: %q, %v", kept, data, readErr)
	}
	f.assertNothingLeft(t, "vm5")
}
