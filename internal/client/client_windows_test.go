//go:build windows

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/service"
	"github.com/vmgenie/vmgenie/internal/transport"
	"github.com/vmgenie/vmgenie/internal/winetest"
)

var pipeCounter atomic.Int64

// startPipeService runs a real service on a fresh named pipe, primed for
// Wine, and returns the pipe's name.
func startPipeService(t *testing.T, opts service.Options) string {
	t.Helper()
	address := fmt.Sprintf(`\\.\pipe\vmgenie-client-test-%d-%d`, os.Getpid(), pipeCounter.Add(1))
	ln, err := transport.Listen(transport.ListenConfig{Address: address})
	if err != nil {
		t.Fatal(err)
	}
	if err := winetest.PrimePipe(address); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := service.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(ctx, ln)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return address
}

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPipeCallStatus(t *testing.T) {
	c := New(startPipeService(t, service.Options{}))
	resp, err := c.Call(callContext(t), "status", nil)
	if err != nil {
		t.Fatalf("Call status: %v", err)
	}
	if resp.Status != protocol.StatusOK || resp.Command != "status" {
		t.Errorf("response = %+v, want an ok status response", resp)
	}
	var data struct {
		Details string `json:"details"`
		PID     int    `json:"pid"`
	}
	if err := json.Unmarshal(resp.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Details != "Service is running." || data.PID != os.Getpid() {
		t.Errorf("status data = %+v, want details \"Service is running.\" and pid %d", data, os.Getpid())
	}
}

func TestPipeCallErrorCode(t *testing.T) {
	c := New(startPipeService(t, service.Options{}))
	_, err := c.Call(callContext(t), "provision", map[string]any{"template": "ubuntu-24.04", "vm_name": "testvm"})
	var perr *protocol.Error
	if !errors.As(err, &perr) {
		t.Fatalf("Call provision error = %v, want a *protocol.Error", err)
	}
	if perr.Code != protocol.CodeUnavailable {
		t.Errorf("code = %q, want unavailable", perr.Code)
	}

	_, err = c.Call(callContext(t), "no.such.command", nil)
	if !errors.As(err, &perr) || perr.Code != protocol.CodeUnknownCommand {
		t.Errorf("unknown command error = %v, want code unknown_command", err)
	}
}

// slowProvisioner reports two stages and succeeds.
type slowProvisioner struct{}

func (slowProvisioner) Provision(ctx context.Context, req service.ProvisionRequest, progress func(protocol.Progress)) (any, error) {
	progress(protocol.Progress{Stage: "render_seed", Message: "Rendering the seed data.", Percent: 10})
	progress(protocol.Progress{Stage: "boot", Message: "Booting the VM.", Percent: 60})
	return map[string]any{"vm_name": req.VMName}, nil
}

func TestPipeCallStream(t *testing.T) {
	c := New(startPipeService(t, service.Options{Provisioner: slowProvisioner{}, Driver: "fake"}))
	var stages []string
	resp, err := c.CallStream(callContext(t), "provision", map[string]any{"template": "debian-12", "vm_name": "web-1"},
		func(p protocol.Progress) { stages = append(stages, p.Stage) })
	if err != nil {
		t.Fatalf("CallStream provision: %v", err)
	}
	if !strings.Contains(strings.Join(stages, ","), "render_seed,boot") {
		t.Errorf("progress stages = %v, want render_seed then boot", stages)
	}
	if !strings.Contains(string(resp.Data), `"vm_name":"web-1"`) {
		t.Errorf("final data = %s, want the provisioner's result", resp.Data)
	}
}

func TestPipeCallNotRunning(t *testing.T) {
	address := fmt.Sprintf(`\\.\pipe\vmgenie-client-missing-%d`, os.Getpid())
	_, err := New(address).Call(callContext(t), "status", nil)
	var notRunning *NotRunningError
	if !errors.As(err, &notRunning) {
		t.Fatalf("Call on a missing pipe = %v, want *NotRunningError", err)
	}
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("error %v does not wrap ErrNotRunning", err)
	}
	if !strings.Contains(err.Error(), address) || !strings.Contains(err.Error(), "vmgenie service start") {
		t.Errorf("message %q should name the pipe and how to start the service", err)
	}
}

func TestDefaultAddressOnWindows(t *testing.T) {
	t.Setenv(transport.AddressEnv, "")
	if got := DefaultAddress(); got != transport.DefaultPipe {
		t.Errorf("DefaultAddress() = %q, want %q", got, transport.DefaultPipe)
	}
	t.Setenv(transport.AddressEnv, `\\.\pipe\other`)
	if got := DefaultAddress(); got != `\\.\pipe\other` {
		t.Errorf("DefaultAddress() with %s set = %q, want \\\\.\\pipe\\other", transport.AddressEnv, got)
	}
}
