// Package drivertest is the conformance suite for hypervisor drivers. Every
// driver runs it: the QEMU driver against real QEMU, the Hyper-V driver
// against its test double and on a Windows host. It checks the state rules
// documented in package hypervisor, the typed errors, and that Delete leaves
// nothing behind.
package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// Fixture adapts the suite to a driver and its test environment.
type Fixture struct {
	// Spec returns a valid spec for a new VM called name. Its Dir must not
	// exist yet; the suite creates it for some VMs to check that Delete
	// keeps files it did not make. Required.
	Spec func(t *testing.T, name string) hypervisor.Spec

	// ISO is an existing ISO image other than the specs' seed ISO, used by
	// the swap tests. Required when the driver supports SwapISO.
	ISO string

	// WaitBooted blocks until the guest acts on the ACPI power button, so
	// a graceful stop can succeed. The QEMU fixture waits for the guest to
	// read its seed ISO and for the SSH banner. Nil means the VM handles the
	// power button at once, as a test double does.
	WaitBooted func(ctx context.Context, t *testing.T, d hypervisor.Driver, vm hypervisor.VM) error

	// CheckGone runs after each Delete and fails t if anything of vm
	// remains that the suite cannot see through the driver, such as a
	// process. Nil skips the check.
	CheckGone func(t *testing.T, vm hypervisor.VM)

	// BootTimeout bounds WaitBooted; zero means 5 minutes.
	BootTimeout time.Duration
	// StopTimeout is the graceful stop timeout; zero means 2 minutes.
	StopTimeout time.Duration
}

// callerFile is a file the suite puts in an instance directory before
// Create; Delete must leave it.
const callerFile = "caller-owned.txt"

// suite carries the state shared by the subtests of one Run.
type suite struct {
	newDriver func(t *testing.T) hypervisor.Driver
	fx        Fixture
	d         hypervisor.Driver
	caps      hypervisor.Capabilities
	prefix    string

	spec    hypervisor.Spec // the main VM's spec
	vm      hypervisor.VM   // the main VM
	started time.Time       // when the main VM's first Start began
}

// Run runs the conformance suite. newDriver returns a driver for the test
// host. The suite calls it more than once, and every driver it returns
// must see the same VMs, as a restarted service does.
func Run(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, fx Fixture) {
	t.Helper()
	if fx.Spec == nil {
		t.Fatal("drivertest: Fixture.Spec is nil")
	}
	if fx.BootTimeout == 0 {
		fx.BootTimeout = 5 * time.Minute
	}
	if fx.StopTimeout == 0 {
		fx.StopTimeout = 2 * time.Minute
	}
	s := &suite{newDriver: newDriver, fx: fx, d: newDriver(t), prefix: "dt" + randomHex(3)}
	s.caps = s.d.Capabilities()
	if s.caps.SwapISO && fx.ISO == "" {
		t.Fatal("drivertest: the driver supports SwapISO but Fixture.ISO is empty")
	}
	t.Cleanup(func() { s.cleanup(t) })

	t.Run("Name", s.testName)
	t.Run("MissingVM", s.testMissingVM)
	t.Run("InvalidSpec", s.testInvalidSpec)
	steps := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Create", s.testCreate},
		{"CreateConflict", s.testCreateConflict},
		{"OffRules", s.testOffRules},
		{"SwapISOWhileOff", s.testSwapISOWhileOff},
		{"Start", s.testStart},
		{"Addresses", s.testAddresses},
		{"Reattach", s.testReattach},
		{"PauseResume", s.testPauseResume},
		{"DeleteRunningRejected", s.testDeleteRunningRejected},
		{"Booted", s.testBooted},
		{"SwapISOWhileRunning", s.testSwapISOWhileRunning},
		{"GracefulStop", s.testGracefulStop},
		{"StartAgain", s.testStartAgain},
		{"ForcedStop", s.testForcedStop},
		{"Delete", s.testDelete},
	}
	// The steps share one VM, so a failed step stops the sequence.
	for _, step := range steps {
		if !t.Run(step.name, step.fn) {
			t.Fatalf("drivertest: step %s failed; later steps depend on it", step.name)
		}
	}
	t.Run("ForceDeleteRunning", s.testForceDeleteRunning)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ctx returns a context for one step, cancelled when the test ends.
func (s *suite) ctx(t *testing.T, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// cleanup removes VMs the suite made that a failed step left behind.
func (s *suite) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vms, err := s.d.List(ctx)
	if err != nil {
		t.Logf("drivertest cleanup: list: %v", err)
		return
	}
	for _, vm := range vms {
		if len(vm.Name) < len(s.prefix) || vm.Name[:len(s.prefix)] != s.prefix {
			continue
		}
		if err := s.d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{Force: true}); err != nil {
			t.Logf("drivertest cleanup: delete %s: %v", vm.ID, err)
		}
	}
}

func (s *suite) name(role string) string { return s.prefix + "-" + role }

func (s *suite) testName(t *testing.T) {
	if s.d.Name() == "" {
		t.Error("Name() is empty")
	}
	switch s.caps.Addressing {
	case hypervisor.AddressPortForward, hypervisor.AddressRoutable:
	default:
		t.Errorf("Capabilities().Addressing = %q, want %q or %q", s.caps.Addressing, hypervisor.AddressPortForward, hypervisor.AddressRoutable)
	}
}

func (s *suite) testMissingVM(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	id := s.name("missing")
	iso := s.fx.ISO
	checks := map[string]error{}
	_, checks["State"] = s.d.State(ctx, id)
	_, checks["Inspect"] = s.d.Inspect(ctx, id)
	checks["Start"] = s.d.Start(ctx, id)
	_, checks["Stop"] = s.d.Stop(ctx, id, hypervisor.StopOptions{})
	_, checks["Stop forced"] = s.d.Stop(ctx, id, hypervisor.StopOptions{Force: true})
	checks["Pause"] = s.d.Pause(ctx, id)
	checks["Resume"] = s.d.Resume(ctx, id)
	checks["Delete"] = s.d.Delete(ctx, id, hypervisor.DeleteOptions{})
	checks["Delete forced"] = s.d.Delete(ctx, id, hypervisor.DeleteOptions{Force: true})
	_, checks["Addresses"] = s.d.Addresses(ctx, id)
	if s.caps.SwapISO {
		checks["SwapISO"] = s.d.SwapISO(ctx, id, iso)
	}
	for _, bad := range []string{"", "../" + id, "/" + id} {
		_, checks["State of "+bad] = s.d.State(ctx, bad)
	}
	for op, err := range checks {
		if !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("%s on a missing VM: err = %v, want ErrNotFound", op, err)
		}
	}
}

func (s *suite) testInvalidSpec(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	cases := map[string]func(*hypervisor.Spec){
		"zero CPUs":    func(sp *hypervisor.Spec) { sp.CPUs = 0 },
		"zero memory":  func(sp *hypervisor.Spec) { sp.MemoryBytes = 0 },
		"relative dir": func(sp *hypervisor.Spec) { sp.Dir = "relative/dir" },
		"missing image": func(sp *hypervisor.Spec) {
			sp.Image.Path = filepath.Join(os.TempDir(), s.prefix+"-no-such-image.qcow2")
		},
		"name with slash":  func(sp *hypervisor.Spec) { sp.Name = "a/b" },
		"multicast MAC":    func(sp *hypervisor.Spec) { sp.Network.MAC = "01:00:5e:00:00:01" },
		"initrd no kernel": func(sp *hypervisor.Spec) { sp.Boot.Kernel = ""; sp.Boot.Initrd = "/boot/initrd.img" },
	}
	for name, mutate := range cases {
		vmName := s.name("invalid")
		spec := s.fx.Spec(t, vmName)
		mutate(&spec)
		_, err := s.d.Create(ctx, spec)
		if !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Create with %s: err = %v, want ErrInvalidSpec", name, err)
		}
	}
	if _, err := s.d.State(ctx, s.name("invalid")); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("State after rejected Creates: err = %v, want ErrNotFound (nothing created)", err)
	}
	dir := s.fx.Spec(t, s.name("invalid")).Dir
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rejected Creates left instance directory %s (stat err = %v)", dir, err)
	}
}

func (s *suite) testCreate(t *testing.T) {
	ctx := s.ctx(t, 5*time.Minute)
	s.spec = s.fx.Spec(t, s.name("main"))
	if err := os.MkdirAll(s.spec.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.spec.Dir, callerFile), []byte("kept by Delete\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	vm, err := s.d.Create(ctx, s.spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	s.vm = vm
	if vm.ID == "" {
		t.Error("Create returned an empty ID")
	}
	if vm.Name != s.spec.Name {
		t.Errorf("Create: Name = %q, want %q", vm.Name, s.spec.Name)
	}
	if vm.State != hypervisor.StateOff {
		t.Errorf("Create: State = %q, want %q", vm.State, hypervisor.StateOff)
	}
	s.wantState(t, ctx, hypervisor.StateOff)

	got, err := s.d.Inspect(ctx, vm.ID)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if got.CPUs != s.spec.CPUs {
		t.Errorf("Inspect: CPUs = %d, want %d", got.CPUs, s.spec.CPUs)
	}
	if got.MemoryBytes != s.spec.MemoryBytes {
		t.Errorf("Inspect: MemoryBytes = %d, want %d", got.MemoryBytes, s.spec.MemoryBytes)
	}
	if got.ISO != s.spec.SeedISO {
		t.Errorf("Inspect: ISO = %q, want the seed ISO %q", got.ISO, s.spec.SeedISO)
	}
	s.wantListed(t, ctx, s.d, vm.ID, hypervisor.StateOff)
}

func (s *suite) testCreateConflict(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	_, err := s.d.Create(ctx, s.fx.Spec(t, s.spec.Name))
	if !errors.Is(err, hypervisor.ErrConflict) {
		t.Fatalf("second Create of %q: err = %v, want ErrConflict", s.spec.Name, err)
	}
	s.wantState(t, ctx, hypervisor.StateOff)
	if _, err := os.Stat(filepath.Join(s.spec.Dir, callerFile)); err != nil {
		t.Errorf("rejected Create touched the existing instance directory: %v", err)
	}
}

func (s *suite) testOffRules(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	id := s.vm.ID
	if s.caps.Pause {
		if err := s.d.Pause(ctx, id); !errors.Is(err, hypervisor.ErrInvalidState) {
			t.Errorf("Pause while off: err = %v, want ErrInvalidState", err)
		}
		if err := s.d.Resume(ctx, id); !errors.Is(err, hypervisor.ErrInvalidState) {
			t.Errorf("Resume while off: err = %v, want ErrInvalidState", err)
		}
	} else if err := s.d.Pause(ctx, id); !errors.Is(err, hypervisor.ErrUnsupported) {
		t.Errorf("Pause without the Pause capability: err = %v, want ErrUnsupported", err)
	}
	if _, err := s.d.Addresses(ctx, id); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Addresses while off: err = %v, want ErrInvalidState", err)
	}
	res, err := s.d.Stop(ctx, id, hypervisor.StopOptions{})
	if err != nil {
		t.Errorf("Stop while off: %v, want no error", err)
	}
	if res.Forced {
		t.Error("Stop while off reported Forced")
	}
	s.wantState(t, ctx, hypervisor.StateOff)
}

func (s *suite) testSwapISOWhileOff(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	if !s.caps.SwapISO {
		if err := s.d.SwapISO(ctx, s.vm.ID, s.fx.ISO); !errors.Is(err, hypervisor.ErrUnsupported) {
			t.Errorf("SwapISO without the capability: err = %v, want ErrUnsupported", err)
		}
		return
	}
	s.swapAndCheck(t, ctx, s.fx.ISO)
	missing := filepath.Join(filepath.Dir(s.fx.ISO), s.prefix+"-missing.iso")
	if err := s.d.SwapISO(ctx, s.vm.ID, missing); err == nil {
		t.Errorf("SwapISO to missing file %s succeeded", missing)
	}
	s.wantISO(t, ctx, s.fx.ISO)
	s.swapAndCheck(t, ctx, s.spec.SeedISO)
}

func (s *suite) testStart(t *testing.T) {
	ctx := s.ctx(t, 5*time.Minute)
	s.started = time.Now()
	if err := s.d.Start(ctx, s.vm.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start returned after %s", time.Since(s.started).Round(time.Millisecond))
	s.waitState(t, ctx, hypervisor.StateRunning)
	if err := s.d.Start(ctx, s.vm.ID); err != nil {
		t.Errorf("Start while running: %v, want no error", err)
	}
	s.wantState(t, ctx, hypervisor.StateRunning)
	s.wantListed(t, ctx, s.d, s.vm.ID, hypervisor.StateRunning)
}

func (s *suite) testAddresses(t *testing.T) {
	ctx := s.ctx(t, s.fx.BootTimeout)
	var eps []hypervisor.Endpoint
	for {
		var err error
		eps, err = s.d.Addresses(ctx, s.vm.ID)
		if err != nil {
			t.Fatalf("Addresses while running: %v", err)
		}
		if len(eps) > 0 {
			break
		}
		if !sleep(ctx, time.Second) {
			t.Fatal("Addresses returned no endpoint before the boot timeout")
		}
	}
	for _, ep := range eps {
		ip := net.ParseIP(ep.Host)
		if ip == nil {
			t.Errorf("endpoint host %q is not an IP address", ep.Host)
			continue
		}
		if ep.Port < 1 || ep.Port > 65535 {
			t.Errorf("endpoint %v: port %d is outside 1-65535", ep, ep.Port)
		}
		if s.caps.Addressing == hypervisor.AddressPortForward && !ip.IsLoopback() {
			t.Errorf("endpoint %v: a port forward must listen on loopback", ep)
		}
		if s.caps.Addressing == hypervisor.AddressRoutable && ip.IsLoopback() {
			t.Errorf("endpoint %v: a routable address must not be loopback", ep)
		}
		if want := net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)); ep.String() != want {
			t.Errorf("Endpoint.String() = %q, want %q", ep.String(), want)
		}
	}
}

func (s *suite) testReattach(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	d2 := s.newDriver(t)
	st, err := d2.State(ctx, s.vm.ID)
	if err != nil {
		t.Fatalf("State from a new driver: %v", err)
	}
	if st != hypervisor.StateRunning {
		t.Errorf("State from a new driver = %q, want %q", st, hypervisor.StateRunning)
	}
	s.wantListed(t, ctx, d2, s.vm.ID, hypervisor.StateRunning)
}

func (s *suite) testPauseResume(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	id := s.vm.ID
	if !s.caps.Pause {
		if err := s.d.Pause(ctx, id); !errors.Is(err, hypervisor.ErrUnsupported) {
			t.Errorf("Pause without the capability: err = %v, want ErrUnsupported", err)
		}
		return
	}
	if err := s.d.Pause(ctx, id); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	s.wantState(t, ctx, hypervisor.StatePaused)
	if err := s.d.Pause(ctx, id); err != nil {
		t.Errorf("Pause while paused: %v, want no error", err)
	}
	if err := s.d.Start(ctx, id); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Start while paused: err = %v, want ErrInvalidState", err)
	}
	if _, err := s.d.Addresses(ctx, id); err != nil {
		t.Errorf("Addresses while paused: %v, want no error", err)
	}
	if err := s.d.Resume(ctx, id); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	s.wantState(t, ctx, hypervisor.StateRunning)
	if err := s.d.Resume(ctx, id); err != nil {
		t.Errorf("Resume while running: %v, want no error", err)
	}
}

func (s *suite) testSwapISOWhileRunning(t *testing.T) {
	if !s.caps.SwapISO {
		return
	}
	ctx := s.ctx(t, time.Minute)
	s.swapAndCheck(t, ctx, s.fx.ISO)
	s.swapAndCheck(t, ctx, "")
	s.swapAndCheck(t, ctx, s.spec.SeedISO)
	s.wantState(t, ctx, hypervisor.StateRunning)
}

func (s *suite) testDeleteRunningRejected(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	err := s.d.Delete(ctx, s.vm.ID, hypervisor.DeleteOptions{})
	if !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Delete while running: err = %v, want ErrInvalidState", err)
	}
	s.wantState(t, ctx, hypervisor.StateRunning)
}

// testBooted waits for the guest to finish booting. The swap and graceful
// stop steps come after it: a guest that is still booting may be reading
// the seed ISO, and may not act on the power button yet.
func (s *suite) testBooted(t *testing.T) {
	if s.fx.WaitBooted == nil {
		return
	}
	ctx := s.ctx(t, s.fx.BootTimeout)
	if err := s.fx.WaitBooted(ctx, t, s.d, s.vm); err != nil {
		t.Fatalf("WaitBooted: %v", err)
	}
	t.Logf("guest booted %s after the start step", time.Since(s.started).Round(time.Second))
}

func (s *suite) testGracefulStop(t *testing.T) {
	ctx := s.ctx(t, s.fx.StopTimeout+time.Minute)
	began := time.Now()
	res, err := s.d.Stop(ctx, s.vm.ID, hypervisor.StopOptions{Timeout: s.fx.StopTimeout})
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("graceful stop took %s", time.Since(began).Round(time.Millisecond))
	if s.caps.GracefulStop && res.Forced {
		t.Errorf("Stop within %s was forced; the guest did not shut down on the power button", s.fx.StopTimeout)
	}
	s.wantState(t, ctx, hypervisor.StateOff)
	if _, err := s.d.Addresses(ctx, s.vm.ID); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Addresses after Stop: err = %v, want ErrInvalidState", err)
	}
}

func (s *suite) testStartAgain(t *testing.T) {
	ctx := s.ctx(t, 5*time.Minute)
	if err := s.d.Start(ctx, s.vm.ID); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	s.waitState(t, ctx, hypervisor.StateRunning)
	if s.caps.SwapISO {
		s.wantISO(t, ctx, s.spec.SeedISO)
	}
}

func (s *suite) testForcedStop(t *testing.T) {
	ctx := s.ctx(t, 2*time.Minute)
	began := time.Now()
	res, err := s.d.Stop(ctx, s.vm.ID, hypervisor.StopOptions{Force: true})
	if err != nil {
		t.Fatalf("Stop with Force: %v", err)
	}
	t.Logf("forced stop took %s", time.Since(began).Round(time.Millisecond))
	if !res.Forced {
		t.Error("Stop with Force did not report Forced")
	}
	s.wantState(t, ctx, hypervisor.StateOff)
}

func (s *suite) testDelete(t *testing.T) {
	ctx := s.ctx(t, time.Minute)
	vm, err := s.d.Inspect(ctx, s.vm.ID)
	if err != nil {
		t.Fatalf("Inspect before Delete: %v", err)
	}
	if err := s.d.Delete(ctx, s.vm.ID, hypervisor.DeleteOptions{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	s.wantDeleted(t, ctx, vm)
	entries, err := os.ReadDir(s.spec.Dir)
	if err != nil {
		t.Fatalf("instance directory with a caller's file was removed: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{callerFile}) {
		t.Errorf("instance directory after Delete contains %v, want only %s", names, callerFile)
	}
	if err := s.d.Delete(ctx, s.vm.ID, hypervisor.DeleteOptions{}); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testForceDeleteRunning(t *testing.T) {
	ctx := s.ctx(t, 5*time.Minute)
	spec := s.fx.Spec(t, s.name("force"))
	vm, err := s.d.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.d.Start(ctx, vm.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{Force: true}); err != nil {
		t.Fatalf("Delete with Force of a running VM: %v", err)
	}
	s.wantDeleted(t, ctx, vm)
	if _, err := os.Stat(spec.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory %s made by the driver still exists after Delete (stat err = %v)", spec.Dir, err)
	}
}

// wantDeleted checks that vm is gone from the driver's view and, through
// the fixture, from the host.
func (s *suite) wantDeleted(t *testing.T, ctx context.Context, vm hypervisor.VM) {
	t.Helper()
	if _, err := s.d.State(ctx, vm.ID); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("State after Delete: err = %v, want ErrNotFound", err)
	}
	vms, err := s.d.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, v := range vms {
		if v.ID == vm.ID {
			t.Errorf("List after Delete still shows %s", vm.ID)
		}
	}
	if s.fx.CheckGone != nil {
		s.fx.CheckGone(t, vm)
	}
}

func (s *suite) wantState(t *testing.T, ctx context.Context, want hypervisor.State) {
	t.Helper()
	got, err := s.d.State(ctx, s.vm.ID)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	if got != want {
		t.Errorf("State = %q, want %q", got, want)
	}
}

// waitState polls State until it is want, allowing the transitional states
// a hypervisor reports on the way (Starting, Stopping).
func (s *suite) waitState(t *testing.T, ctx context.Context, want hypervisor.State) {
	t.Helper()
	for {
		got, err := s.d.State(ctx, s.vm.ID)
		if err != nil {
			t.Fatalf("State: %v", err)
		}
		if got == want {
			return
		}
		if got != hypervisor.StateStarting && got != hypervisor.StateStopping {
			t.Fatalf("State = %q while waiting for %q", got, want)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			t.Fatalf("State still %q, want %q: %v", got, want, ctx.Err())
		}
	}
}

func (s *suite) wantListed(t *testing.T, ctx context.Context, d hypervisor.Driver, id string, want hypervisor.State) {
	t.Helper()
	vms, err := d.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, vm := range vms {
		if vm.ID == id {
			if vm.State != want {
				t.Errorf("List shows %s as %q, want %q", id, vm.State, want)
			}
			return
		}
	}
	t.Errorf("List does not show %s", id)
}

func (s *suite) swapAndCheck(t *testing.T, ctx context.Context, iso string) {
	t.Helper()
	if err := s.d.SwapISO(ctx, s.vm.ID, iso); err != nil {
		t.Fatalf("SwapISO(%q): %v", iso, err)
	}
	s.wantISO(t, ctx, iso)
}

func (s *suite) wantISO(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	vm, err := s.d.Inspect(ctx, s.vm.ID)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if vm.ISO != want {
		t.Errorf("Inspect: ISO = %q, want %q", vm.ISO, want)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
