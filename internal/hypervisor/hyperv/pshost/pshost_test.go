package pshost_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

func TestMain(m *testing.M) {
	hypervtest.MainIfDouble()
	os.Exit(m.Run())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHost(t *testing.T, starter pshost.Starter, cfg pshost.Config) *pshost.Host {
	t.Helper()
	cfg.Starter = starter
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	h, err := pshost.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

type switchList struct {
	Switches []hypervtest.Switch `json:"switches"`
}

func TestHostCallReturnsResult(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	h := newHost(t, hypervtest.InProcessStarter{Backend: model}, pshost.Config{})
	var out switchList
	if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{}); err != nil {
		t.Fatalf("Call: %v", err)
	}
	if len(out.Switches) != 3 {
		t.Fatalf("got %d switches, want 3", len(out.Switches))
	}
	if out.Switches[0].Name != hypervtest.DefaultSwitchPolish {
		t.Errorf("switch name = %q, want %q unchanged by the ASCII-only wire format", out.Switches[0].Name, hypervtest.DefaultSwitchPolish)
	}
	reqs := model.Requests()
	if len(reqs) != 1 || reqs[0].Mode != pshost.ModeHost {
		t.Errorf("requests = %+v, want one in host mode", reqs)
	}
}

func TestHostReusesProcess(t *testing.T) {
	var starts atomic.Int32
	model := hypervtest.NewModel(hypervtest.Options{})
	starter := countingStarter{inner: hypervtest.InProcessStarter{Backend: model}, n: &starts}
	h := newHost(t, starter, pshost.Config{MaxProcesses: 1})
	for i := 0; i < 5; i++ {
		if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := starts.Load(); got != 1 {
		t.Errorf("processes started = %d, want 1 for 5 sequential calls", got)
	}
}

type countingStarter struct {
	inner pshost.Starter
	n     *atomic.Int32
}

func (c countingStarter) Start(cmd pshost.Command) (pshost.Process, error) {
	c.n.Add(1)
	return c.inner.Start(cmd)
}

func TestHostScriptErrorKeepsKind(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	h := newHost(t, hypervtest.InProcessStarter{Backend: model}, pshost.Config{})
	err := h.Call(context.Background(), scripts.GetVM, map[string]string{"id": "0b7c1f53-1111-4c2b-9d3e-5f6a7b8c9d0e"}, nil, pshost.CallOptions{})
	var se *pshost.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *ScriptError", err)
	}
	if se.Kind != pshost.KindNotFound {
		t.Errorf("Kind = %q, want %q", se.Kind, pshost.KindNotFound)
	}
}

func TestHostRestartsAfterHang(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	var hung atomic.Bool
	starter := hypervtest.InProcessStarter{Backend: model, Faults: hypervtest.Faults{
		Hang: func(mode pshost.Mode, req pshost.Request) bool { return !hung.Swap(true) },
	}}
	h := newHost(t, starter, pshost.Config{MaxProcesses: 1})
	err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, pshost.ErrTimeout) {
		t.Fatalf("call to a hung process: err = %v, want ErrTimeout", err)
	}
	if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{}); err != nil {
		t.Fatalf("call after the hang: %v, want a new process to answer", err)
	}
}

func TestHostRetriesReadOnlyAfterDeath(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	var died atomic.Bool
	starter := hypervtest.InProcessStarter{Backend: model, Faults: hypervtest.Faults{
		Die: func(mode pshost.Mode, req pshost.Request) bool { return !died.Swap(true) },
	}}
	h := newHost(t, starter, pshost.Config{})
	var out switchList
	if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{}); err != nil {
		t.Fatalf("read-only call whose process died: %v, want a retry to succeed", err)
	}
	if len(out.Switches) == 0 {
		t.Error("retried call returned no switches")
	}
}

func TestHostDoesNotRetryChangeAfterDeath(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	starter := hypervtest.InProcessStarter{Backend: model, Faults: hypervtest.Faults{
		Die: func(mode pshost.Mode, req pshost.Request) bool { return req.Op == "start-vm" },
	}}
	h := newHost(t, starter, pshost.Config{})
	err := h.Call(context.Background(), scripts.StartVM, map[string]string{"id": "0b7c1f53-1111-4c2b-9d3e-5f6a7b8c9d0e"}, nil, pshost.CallOptions{})
	if err == nil {
		t.Fatal("start-vm whose process died succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "exited during the call") {
		t.Errorf("error %q does not say that the process exited", msg)
	}
	if !strings.Contains(msg, "told to die") {
		t.Errorf("error %q lacks the decoded stderr message", msg)
	}
	if strings.Contains(msg, "CLIXML") || strings.Contains(msg, "_x000D_") {
		t.Errorf("error %q contains raw CLIXML", msg)
	}
	n := 0
	for _, r := range model.Requests() {
		if r.Op == "start-vm" {
			n++
		}
	}
	if n != 0 {
		t.Errorf("start-vm reached the model %d times, want 0 (the process died first and no retry)", n)
	}
}

func TestHostFallsBackToOneShot(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	starter := hypervtest.InProcessStarter{Backend: model, Faults: hypervtest.Faults{
		FailStart: func(mode pshost.Mode) bool { return mode == pshost.ModeHost },
	}}
	h := newHost(t, starter, pshost.Config{FallbackAfter: 2})
	for i := 0; i < 4; i++ {
		if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for i, r := range model.Requests() {
		if r.Mode != pshost.ModeOneShot {
			t.Errorf("request %d ran in mode %q, want %q", i, r.Mode, pshost.ModeOneShot)
		}
	}
}

func TestHostStartTimeoutFallsBack(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	starter := hypervtest.InProcessStarter{Backend: model, Faults: hypervtest.Faults{
		HangAtStart: func() bool { return true },
	}}
	h := newHost(t, starter, pshost.Config{StartTimeout: 100 * time.Millisecond})
	if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{}); err != nil {
		t.Fatalf("call when the host never gets ready: %v, want the one-shot fallback to answer", err)
	}
	reqs := model.Requests()
	if len(reqs) != 1 || reqs[0].Mode != pshost.ModeOneShot {
		t.Errorf("requests = %+v, want one in one-shot mode", reqs)
	}
}

func TestHostRunsCallsConcurrently(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	release := make(chan struct{})
	starter := hypervtest.InProcessStarter{Backend: blockingBackend{inner: model, op: "stop-vm", release: release}}
	h := newHost(t, starter, pshost.Config{MaxProcesses: 2})
	done := make(chan error, 1)
	go func() {
		done <- h.Call(context.Background(), scripts.StopVM, map[string]any{"id": "x", "force": true, "timeout_seconds": 1}, nil, pshost.CallOptions{})
	}()
	if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{Timeout: 5 * time.Second}); err != nil {
		t.Fatalf("call beside a long one: %v", err)
	}
	close(release)
	<-done
}

type blockingBackend struct {
	inner   hypervtest.Backend
	op      string
	release chan struct{}
}

func (b blockingBackend) Handle(mode pshost.Mode, req pshost.Request) pshost.Response {
	if req.Op == b.op {
		<-b.release
	}
	return b.inner.Handle(mode, req)
}

func TestHostCallAfterClose(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	h := newHost(t, hypervtest.InProcessStarter{Backend: model}, pshost.Config{})
	h.Close()
	err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{Mode: pshost.ModeHost})
	if !errors.Is(err, pshost.ErrClosed) {
		t.Errorf("call after Close: err = %v, want ErrClosed", err)
	}
}

func TestDoubleProcessBothModes(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	starter, err := hypervtest.NewProcessStarter(t.TempDir(), model)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, starter, pshost.Config{})
	for _, mode := range []pshost.Mode{pshost.ModeHost, pshost.ModeOneShot} {
		var out switchList
		if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{Mode: mode}); err != nil {
			t.Fatalf("%s call through a double process: %v", mode, err)
		}
		if len(out.Switches) != 3 || out.Switches[0].Name != hypervtest.DefaultSwitchPolish {
			t.Errorf("%s call returned switches %+v", mode, out.Switches)
		}
	}
	shared, err := starter.Model()
	if err != nil {
		t.Fatal(err)
	}
	reqs := shared.Requests()
	if len(reqs) != 2 || reqs[0].Mode != pshost.ModeHost || reqs[1].Mode != pshost.ModeOneShot {
		t.Errorf("recorded requests = %+v, want one host and one one-shot request", reqs)
	}
}
