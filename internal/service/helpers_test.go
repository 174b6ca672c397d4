package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/transport"
)

// testServer is a Server listening on a real user-mode Unix socket.
type testServer struct {
	*Server
	addr   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServer starts a server with opts on a socket in a fresh directory.
// The directory is made with os.MkdirTemp because t.TempDir paths can pass
// the 108-byte limit of Unix socket paths.
func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := filepath.Join(dir, "s.sock")

	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := transport.Listen(transport.ListenConfig{Address: addr, UserMode: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: srv, addr: addr, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(40 * time.Second):
			t.Error("server did not stop within 40s")
		}
	})
	return ts
}

// stop cancels Serve and returns its result.
func (ts *testServer) stop(t *testing.T) error {
	t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // let the cleanup receive it too
		return err
	case <-time.After(40 * time.Second):
		t.Fatal("server did not stop within 40s")
		return nil
	}
}

// roundTrip sends line (with "\n" appended) and returns every response line
// until the server closes the connection.
func roundTrip(t *testing.T, addr, line string) []map[string]any {
	t.Helper()
	lines, err := tryRoundTrip(addr, line)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// tryRoundTrip is roundTrip for goroutines other than the test's own, which
// must not call t.Fatal.
func tryRoundTrip(addr, line string) ([]map[string]any, error) {
	conn, err := net.DialTimeout("unix", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		return nil, err
	}
	return tryReadAll(conn)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("unix", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func readAll(t *testing.T, conn net.Conn) []map[string]any {
	t.Helper()
	lines, err := tryReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func tryReadAll(conn net.Conn) ([]map[string]any, error) {
	var lines []map[string]any
	scanner := bufio.NewScanner(conn)
	scanner.Buffer(make([]byte, 64<<10), 4<<20)
	for scanner.Scan() {
		var m map[string]any
		if err := json.Unmarshal(scanner.Bytes(), &m); err != nil {
			return lines, fmt.Errorf("response line is not a JSON object: %v: %s", err, scanner.Bytes())
		}
		lines = append(lines, m)
	}
	if err := scanner.Err(); err != nil {
		return lines, fmt.Errorf("reading responses failed: %v (lines so far: %v)", err, lines)
	}
	return lines, nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// single returns the only response line, failing when there are more.
func single(t *testing.T, lines []map[string]any) map[string]any {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("got %d response lines, want exactly 1: %v", len(lines), lines)
	}
	return lines[0]
}

// errorCode returns data.code of an error response, failing for any other.
func errorCode(t *testing.T, resp map[string]any) string {
	t.Helper()
	if resp["status"] != "error" {
		t.Fatalf("status = %v, want error: %v", resp["status"], resp)
	}
	data, _ := resp["data"].(map[string]any)
	code, _ := data["code"].(string)
	if msg, _ := data["message"].(string); msg == "" {
		t.Errorf("error response has no message: %v", resp)
	}
	return code
}

func errorMessage(resp map[string]any) string {
	data, _ := resp["data"].(map[string]any)
	msg, _ := data["message"].(string)
	return msg
}

// assertJSONSubset fails unless every field of want appears in got with an
// equal value; objects in got may carry more fields.
func assertJSONSubset(t *testing.T, want string, got map[string]any) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if path, ok := isSubset(w, got, "$"); !ok {
		gotJSON, _ := json.Marshal(got)
		t.Errorf("response differs at %s\n got: %s\nwant: %s (extra fields allowed)", path, gotJSON, want)
	}
}

func isSubset(want, got any, path string) (string, bool) {
	wantObj, ok := want.(map[string]any)
	if !ok {
		return path, reflect.DeepEqual(want, got)
	}
	gotObj, ok := got.(map[string]any)
	if !ok {
		return path, false
	}
	for k, v := range wantObj {
		if p, ok := isSubset(v, gotObj[k], path+"."+k); !ok {
			return p, false
		}
	}
	return "", true
}

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records whose msg is msg.
func (b *syncBuffer) records(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitRecords polls until at least n records with msg were logged, or 10s
// pass, and returns them. The service logs a request after writing its response, so
// a test may see the response before the log line.
func (b *syncBuffer) waitRecords(msg string, n int) []map[string]any {
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := b.records(msg)
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeProvisioner records requests and blocks until release is closed.
type fakeProvisioner struct {
	started chan ProvisionRequest
	release chan struct{}
	fail    error
}

func newFakeProvisioner() *fakeProvisioner {
	return &fakeProvisioner{started: make(chan ProvisionRequest, 16), release: make(chan struct{})}
}

func (f *fakeProvisioner) Provision(ctx context.Context, req ProvisionRequest, progress func(protocol.Progress)) (any, error) {
	progress(protocol.Progress{Stage: "render_seed", Message: "Rendering the seed data.", Percent: 10})
	f.started <- req
	select {
	case <-f.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	progress(protocol.Progress{Stage: "boot", Message: "Booting the VM.", Percent: 60})
	if f.fail != nil {
		return nil, f.fail
	}
	return map[string]any{"vm_name": req.VMName}, nil
}

// waitStarted returns the next request that reached the provisioner.
func (f *fakeProvisioner) waitStarted(t *testing.T) ProvisionRequest {
	t.Helper()
	select {
	case req := <-f.started:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("the provisioner was not called within 10s")
		return ProvisionRequest{}
	}
}

// rejectAll is an Authorizer that rejects every peer.
type rejectAll struct{}

func (rejectAll) Authorize(p transport.Peer) error {
	return errors.New(p.User + " is not allowed in this test")
}
