package hyperv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

func createStarted(t *testing.T, e *env, d *Driver, name string) hypervisor.VM {
	t.Helper()
	vm, err := d.Create(context.Background(), e.spec(name))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := d.Start(context.Background(), vm.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return vm
}

func ops(m *hypervtest.Model) []string {
	var out []string
	for _, r := range m.Requests() {
		out = append(out, r.Op)
	}
	return out
}

func TestSavedVM(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	ctx := context.Background()
	vm := createStarted(t, e, d, "saved")
	if err := e.model.SetState(vm.ID, "Saved"); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, vm.ID); st != hypervisor.StateSaved {
		t.Fatalf("State = %q, want saved", st)
	}
	if _, err := d.Stop(ctx, vm.ID, hypervisor.StopOptions{}); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("graceful Stop of a saved VM: err = %v, want ErrInvalidState", err)
	}
	if err := d.Pause(ctx, vm.ID); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Pause of a saved VM: err = %v, want ErrInvalidState", err)
	}
	if err := d.Start(ctx, vm.ID); err != nil {
		t.Fatalf("Start of a saved VM: %v", err)
	}
	if st, _ := d.State(ctx, vm.ID); st != hypervisor.StateRunning {
		t.Errorf("State after restoring = %q, want running", st)
	}
	e.model.SetState(vm.ID, "Saved")
	res, err := d.Stop(ctx, vm.ID, hypervisor.StopOptions{Force: true})
	if err != nil || !res.Forced {
		t.Fatalf("forced Stop of a saved VM = %+v, %v; want Forced", res, err)
	}
	if st, _ := d.State(ctx, vm.ID); st != hypervisor.StateOff {
		t.Errorf("State after discarding = %q, want off", st)
	}
	e.model.SetState(vm.ID, "Saved")
	if err := d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{}); err != nil {
		t.Errorf("Delete of a saved VM: %v, want it allowed as Remove-VM allows it", err)
	}
}

func TestStopPausedResumesFirst(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	ctx := context.Background()
	vm := createStarted(t, e, d, "paused")
	if err := d.Pause(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	res, err := d.Stop(ctx, vm.ID, hypervisor.StopOptions{Timeout: time.Second})
	if err != nil || res.Forced {
		t.Fatalf("Stop of a paused VM = %+v, %v; want a graceful stop", res, err)
	}
	got := strings.Join(ops(e.model), " ")
	if !strings.Contains(got, "resume-vm get-vm stop-vm") && !strings.Contains(got, "resume-vm stop-vm") {
		t.Errorf("requests %q: want resume-vm before stop-vm", got)
	}
}

func TestStopForcedWhenGuestIgnoresShutdown(t *testing.T) {
	e := newEnv(t, hypervtest.Options{GuestIgnoresShutdown: true})
	d := e.driver(t)
	vm := createStarted(t, e, d, "stubborn")
	res, err := d.Stop(context.Background(), vm.ID, hypervisor.StopOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Forced {
		t.Error("Stop of a guest that ignores shutdown did not report Forced")
	}
}

func TestCriticalStateIsFailed(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	ctx := context.Background()
	vm := createStarted(t, e, d, "critical")
	e.model.SetState(vm.ID, "RunningCritical")
	if st, _ := d.State(ctx, vm.ID); st != hypervisor.StateFailed {
		t.Errorf("State = %q, want failed", st)
	}
	if err := d.Start(ctx, vm.ID); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Start of a failed VM: err = %v, want ErrInvalidState", err)
	}
}

func TestAddressesNeighborFallback(t *testing.T) {
	e := newEnv(t, hypervtest.Options{NoGuestKVP: true, NeighborIP: "192.0.2.77"})
	d := e.driver(t)
	vm := createStarted(t, e, d, "nokvp")
	eps, err := d.Addresses(context.Background(), vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 1 || eps[0].String() != "192.0.2.77:22" {
		t.Errorf("Addresses = %v, want only the reachable neighbour 192.0.2.77:22", eps)
	}
}

func TestAddressesPreferIPv4(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	vm := createStarted(t, e, d, "v4")
	eps, err := d.Addresses(context.Background(), vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 3 || !strings.HasPrefix(eps[0].Host, "192.0.2.") || !strings.HasPrefix(eps[2].Host, "fe80::") {
		t.Errorf("Addresses = %v, want IPv4 first and link-local last", eps)
	}
}

func TestWaitAddressesTimeoutExplains(t *testing.T) {
	e := newEnv(t, hypervtest.Options{NoGuestKVP: true})
	d := e.driver(t)
	vm := createStarted(t, e, d, "silent")
	_, err := d.WaitAddresses(context.Background(), vm.ID, 300*time.Millisecond, 100*time.Millisecond)
	if err == nil {
		t.Fatal("WaitAddresses succeeded for a guest without key-value pair exchange")
	}
	for _, want := range []string{"hv_kvp_daemon", "No Contact"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestVMRemovedOutsideDriver(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	ctx := context.Background()
	vm, err := d.Create(ctx, e.spec("gone"))
	if err != nil {
		t.Fatal(err)
	}
	e.model.RemoveVM(vm.ID)
	if _, err := d.State(ctx, vm.ID); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("State: err = %v, want ErrNotFound", err)
	}
	vms, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 1 || vms[0].State != hypervisor.StateUnknown {
		t.Errorf("List = %+v, want the VM listed as unknown", vms)
	}
}

func TestSerialLogCaptured(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	pipes := make(chan *io.PipeWriter, 1)
	var dialed string
	dial := func(ctx context.Context, pipe string) (io.ReadCloser, error) {
		dialed = pipe
		r, w := io.Pipe()
		pipes <- w
		return r, nil
	}
	host, err := pshost.New(pshost.Config{Starter: e.starter, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	d, err := New(Config{Root: e.root, Host: host, Logger: quietLogger(), SerialDial: dial})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	vm := createStarted(t, e, d, "console")
	w := <-pipes
	io.WriteString(w, "Linux version 6.1\r\nlogin: ")
	w.Close() // the VM stopped

	log := filepath.Join(e.root, "console", serialDefault)
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(log)
		if string(data) == "Linux version 6.1\r\nlogin: " {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial.log = %q, want the pipe's output", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec, _ := loadRecord(filepath.Join(e.root, "console"))
	if dialed != rec.COM1Pipe {
		t.Errorf("dialed %q, want the VM's COM1 pipe %q", dialed, rec.COM1Pipe)
	}
	if _, err := d.Stop(context.Background(), vm.ID, hypervisor.StopOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(context.Background(), vm.ID, hypervisor.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Errorf("serial.log remains after Delete (stat err = %v)", err)
	}
}

func TestSerialCaptureStopsOnUnsupported(t *testing.T) {
	c := newSerialCapture(func(context.Context, string) (io.ReadCloser, error) { return nil, ErrSerialUnsupported }, quietLogger())
	c.ensure(&record{ID: "x", COM1Pipe: `\\.\pipe\x`, SerialLog: filepath.Join(t.TempDir(), "serial.log")})
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.running)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the capture kept running on a platform without named pipes")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDriverThroughProcesses(t *testing.T) {
	for _, oneShot := range []bool{false, true} {
		name := "host"
		if oneShot {
			name = "one-shot"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, hypervtest.Options{})
			starter, err := hypervtest.NewProcessStarter(t.TempDir(), e.model)
			if err != nil {
				t.Fatal(err)
			}
			host, err := pshost.New(pshost.Config{Starter: starter, Logger: quietLogger(), OneShotOnly: oneShot})
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			d, err := New(Config{Root: e.root, Host: host, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			vm, err := d.Create(ctx, e.spec("proc"))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if err := d.Start(ctx, vm.ID); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if st, err := d.State(ctx, vm.ID); err != nil || st != hypervisor.StateRunning {
				t.Fatalf("State = %q, %v; want running", st, err)
			}
			if err := d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{Force: true}); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			model, err := starter.Model()
			if err != nil {
				t.Fatal(err)
			}
			reqs := model.Requests()
			checkRequests(t, reqs)
			want := pshost.ModeHost
			if oneShot {
				want = pshost.ModeOneShot
			}
			for _, r := range reqs {
				if r.Mode != want {
					t.Errorf("request %s ran in mode %s, want %s", r.Op, r.Mode, want)
				}
			}
		})
	}
}
