//go:build unix

package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/service"
	"github.com/vmgenie/vmgenie/internal/transport"
)

func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmgc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// startService runs a real service on a user-mode socket.
func startService(t *testing.T, opts service.Options, commands ...protocol.Command) string {
	t.Helper()
	path := socketPath(t)
	ln, err := transport.Listen(transport.ListenConfig{Address: path, UserMode: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := service.New(opts)
	for _, c := range commands {
		if err := srv.Register(c); err != nil {
			t.Fatal(err)
		}
	}
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
	return path
}

func TestCallStatus(t *testing.T) {
	c := New(startService(t, service.Options{}))
	resp, err := c.Call(context.Background(), "status", nil)
	if err != nil {
		t.Fatal(err)
	}
	var data service.StatusData
	if err := json.Unmarshal(resp.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Details != "Service is running." || data.ProtocolVersion != protocol.ProtocolVersion {
		t.Errorf("status data = %+v", data)
	}
}

func TestCallErrorIsTyped(t *testing.T) {
	c := New(startService(t, service.Options{}))
	resp, err := c.Call(context.Background(), "provision", map[string]any{"template": "ubuntu-24.04", "vm_name": "testvm"})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeUnavailable {
		t.Fatalf("error = %v, want a *protocol.Error with code unavailable", err)
	}
	if resp.Status != protocol.StatusError || resp.Command != "provision" {
		t.Errorf("the error response should come back too: %+v", resp)
	}
	if !errors.Is(err, &protocol.Error{Code: protocol.CodeUnavailable}) {
		t.Error("errors.Is should match the code")
	}
}

func TestCallStreamReportsProgress(t *testing.T) {
	steps := []string{"download", "boot", "ready"}
	stream := protocol.Command{
		Name: "test.steps", Streams: true,
		Handler: func(_ context.Context, call *protocol.Call) (any, error) {
			for i, s := range steps {
				if err := call.Progress(protocol.Progress{Stage: s, Message: "Step " + s + ".", Percent: (i + 1) * 30}); err != nil {
					return nil, err
				}
			}
			return map[string]string{"details": "done"}, nil
		},
	}
	c := New(startService(t, service.Options{}, stream))

	var got []string
	resp, err := c.CallStream(context.Background(), "test.steps", nil, func(p protocol.Progress) { got = append(got, p.Stage) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(steps, ",") {
		t.Errorf("progress stages = %v, want %v", got, steps)
	}
	if resp.Status != protocol.StatusOK {
		t.Errorf("final status = %q", resp.Status)
	}

	// Without streaming the same command sends no progress lines.
	got = nil
	if _, err := c.Do(context.Background(), "test.steps", nil, false, func(r protocol.Response) { got = append(got, r.Status) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("got progress lines without asking for a stream: %v", got)
	}
}

func TestCallDeadline(t *testing.T) {
	block := protocol.Command{Name: "test.block", Handler: func(ctx context.Context, _ *protocol.Call) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := New(startService(t, service.Options{ShutdownTimeout: time.Second}, block))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Call(ctx, "test.block", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the call returned after %s, want about 200ms", elapsed)
	}
}

func TestNotRunningExplainsHowToStart(t *testing.T) {
	missing := socketPath(t)
	stale := socketPath(t)
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()

	for name, path := range map[string]string{"missing socket": missing, "refused": stale} {
		t.Run(name, func(t *testing.T) {
			_, err := New(path).Call(context.Background(), "status", nil)
			if !errors.Is(err, ErrNotRunning) {
				t.Fatalf("error = %v, want ErrNotRunning", err)
			}
			for _, want := range []string{"not running", path, "vmgenie serve", "vmgenie service start"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q should contain %q", err, want)
				}
			}
		})
	}
}

func TestDefaultAddressPrefersEnvThenUserSocket(t *testing.T) {
	t.Setenv(transport.AddressEnv, "/x/y.sock")
	if got := DefaultAddress(); got != "/x/y.sock" {
		t.Errorf("with %s set: %q", transport.AddressEnv, got)
	}
	t.Setenv(transport.AddressEnv, "")

	dir := filepath.Dir(socketPath(t))
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if got := DefaultAddress(); got != transport.SystemSocketPath {
		t.Errorf("without a user socket: %q, want the system socket", got)
	}
	startServiceAt(t, filepath.Join(dir, transport.UserSocketName))
	if got := DefaultAddress(); got != filepath.Join(dir, transport.UserSocketName) {
		t.Errorf("with a user socket: %q, want it", got)
	}
}

func startServiceAt(t *testing.T, path string) {
	t.Helper()
	ln, err := transport.Listen(transport.ListenConfig{Address: path, UserMode: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func TestExchangeChecksResponseID(t *testing.T) {
	c := New(startService(t, service.Options{}))
	_, err := c.Exchange(context.Background(), []byte(`{"id":"one","command":"status","parameters":{}}`), "two", nil)
	if err == nil || !strings.Contains(err.Error(), `id "one"`) {
		t.Errorf("error = %v, want a mismatch naming the id", err)
	}
}
