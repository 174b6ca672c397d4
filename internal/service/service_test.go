package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
)

// blockingCommand returns a command that signals entered and then waits for
// release or for its context to end.
func blockingCommand(name string, entered chan<- string, release <-chan struct{}) protocol.Command {
	return protocol.Command{
		Name:    name,
		Summary: "Wait until the test releases it.",
		Params:  []protocol.Param{{Name: "tag", Type: protocol.TypeString, Description: "echoed back"}},
		Handler: func(ctx context.Context, call *protocol.Call) (any, error) {
			entered <- call.Params.String("tag")
			select {
			case <-release:
				return map[string]any{"tag": call.Params.String("tag")}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}
}

func receive[T any](t *testing.T, ch <-chan T, event string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen within 10s", event)
		var zero T
		return zero
	}
}

func TestConcurrentClients(t *testing.T) {
	ts := startServer(t, Options{})
	const clients = 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%03d", i)
			conn, err := net.DialTimeout("unix", ts.addr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := fmt.Fprintf(conn, `{"id":%q,"command":"status","parameters":{}}`+"\n", id); err != nil {
				errs <- err
				return
			}
			var resp protocol.Response
			if err := json.NewDecoder(conn).Decode(&resp); err != nil {
				errs <- fmt.Errorf("client %s: %w", id, err)
				return
			}
			if resp.ID != id || resp.Status != protocol.StatusOK {
				errs <- fmt.Errorf("client %s got id %q status %q", id, resp.ID, resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(ts.logs.waitRecords("request", clients)); n != clients {
		t.Errorf("got %d request log lines, want %d", n, clients)
	}
}

func TestSlowClientDoesNotDelayOthers(t *testing.T) {
	ts := startServer(t, Options{RequestTimeout: 5 * time.Second, MaxConnections: 2})

	// The slow client sends half a line and stalls, holding one of the two
	// slots until its request timeout.
	slow := dial(t, ts.addr)
	defer slow.Close()
	if _, err := slow.Write([]byte(`{"id": "slow", "comm`)); err != nil {
		t.Fatal(err)
	}
	// A half-open client connects and sends nothing.
	silent := dial(t, ts.addr)
	defer silent.Close()
	time.Sleep(50 * time.Millisecond)
	silent.Close() // frees its slot once the server reads EOF

	for i := range 20 {
		start := time.Now()
		resp := single(t, roundTrip(t, ts.addr, fmt.Sprintf(`{"id": "fast%d", "command": "status", "parameters": {}}`, i)))
		if resp["status"] != "ok" {
			t.Fatalf("fast request %d: %v", i, resp)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("fast request %d took %s while a slow client stalled", i, elapsed)
		}
	}
}

func TestExtraClientsWaitForSlot(t *testing.T) {
	entered := make(chan string, 4)
	release := make(chan struct{})
	ts := startServer(t, Options{MaxConnections: 1})
	if err := ts.Register(blockingCommand("test.block", entered, release)); err != nil {
		t.Fatal(err)
	}

	first := make(chan []map[string]any, 1)
	go func() {
		lines, _ := tryRoundTrip(ts.addr, `{"id": "b1", "command": "test.block", "parameters": {"tag": "one"}}`)
		first <- lines
	}()
	receive(t, entered, "the first request entering its handler")

	waiting := make(chan []map[string]any, 1)
	go func() {
		lines, _ := tryRoundTrip(ts.addr, `{"id": "s1", "command": "status", "parameters": {}}`)
		waiting <- lines
	}()
	select {
	case lines := <-waiting:
		t.Fatalf("second client was served while the only slot was busy: %v", lines)
	case <-time.After(300 * time.Millisecond):
	}

	close(release)
	assertJSONSubset(t, `{"id": "b1", "status": "ok", "data": {"tag": "one"}}`, single(t, receive(t, first, "the first response")))
	assertJSONSubset(t, `{"id": "s1", "status": "ok"}`, single(t, receive(t, waiting, "the waiting client's response")))
}

func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	entered := make(chan string, 8)
	release := make(chan struct{})
	ts := startServer(t, Options{ShutdownTimeout: 10 * time.Second})
	if err := ts.Register(blockingCommand("test.block", entered, release)); err != nil {
		t.Fatal(err)
	}

	const inFlight = 5
	results := make(chan []map[string]any, inFlight)
	for i := range inFlight {
		go func() {
			lines, _ := tryRoundTrip(ts.addr, fmt.Sprintf(`{"id": "f%d", "command": "test.block", "parameters": {"tag": "t%d"}}`, i, i))
			results <- lines
		}()
	}
	for range inFlight {
		receive(t, entered, "a request entering its handler")
	}

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop(t) }()

	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("unix", ts.addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepted connections 5s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}

	close(release)
	for range inFlight {
		resp := single(t, receive(t, results, "an in-flight response"))
		if resp["status"] != "ok" {
			t.Errorf("in-flight request did not finish: %v", resp)
		}
	}
	if err := receive(t, stopped, "Serve returning"); err != nil {
		t.Errorf("Serve returned %v after a clean shutdown, want nil", err)
	}
}

func TestShutdownCutsOffAtDeadline(t *testing.T) {
	entered := make(chan string, 1)
	ts := startServer(t, Options{ShutdownTimeout: 200 * time.Millisecond})
	if err := ts.Register(blockingCommand("test.block", entered, make(chan struct{}))); err != nil {
		t.Fatal(err)
	}
	result := make(chan []map[string]any, 1)
	go func() {
		lines, _ := tryRoundTrip(ts.addr, `{"id": "x", "command": "test.block", "parameters": {}}`)
		result <- lines
	}()
	receive(t, entered, "the request entering its handler")

	err := ts.stop(t)
	if err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Errorf("Serve returned %v, want an error saying a request was cut off", err)
	}
	receive(t, result, "the cut-off client seeing its connection close")
}

func TestStreamingProvision(t *testing.T) {
	prov := newFakeProvisioner()
	ts := startServer(t, Options{Provisioner: prov})
	conn := dial(t, ts.addr)
	defer conn.Close()
	if _, err := conn.Write([]byte(`{"id": "st1", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "streamvm"}, "stream": true}` + "\n")); err != nil {
		t.Fatal(err)
	}
	prov.waitStarted(t)
	close(prov.release)

	lines := readAll(t, conn)
	if len(lines) < 2 {
		t.Fatalf("got %d lines, want progress lines and a final line: %v", len(lines), lines)
	}
	var stages []string
	for _, line := range lines[:len(lines)-1] {
		if line["status"] != "progress" || line["id"] != "st1" || line["command"] != "provision" {
			t.Errorf("line before the last is not a progress line of st1: %v", line)
		}
		data := line["data"].(map[string]any)
		for _, field := range []string{"stage", "message", "percent"} {
			if _, ok := data[field]; !ok {
				t.Errorf("progress data has no %q: %v", field, data)
			}
		}
		stages = append(stages, data["stage"].(string))
	}
	if !strings.Contains(strings.Join(stages, ","), "render_seed") {
		t.Errorf("progress stages %v should include render_seed", stages)
	}
	final := lines[len(lines)-1]
	assertJSONSubset(t, `{"id": "st1", "command": "provision", "status": "ok", "data": {"details": "VM 'streamvm' provisioned.", "result": {"vm_name": "streamvm"}}}`, final)
}

func TestStreamingProvisionFailure(t *testing.T) {
	prov := newFakeProvisioner()
	prov.fail = protocol.Errorf(protocol.CodeNotFound, "template ubuntu-24.04 not found")
	close(prov.release)
	ts := startServer(t, Options{Provisioner: prov})
	lines := roundTrip(t, ts.addr, `{"id": "sf", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "failvm"}, "stream": true}`)
	final := lines[len(lines)-1]
	if code := errorCode(t, final); code != "not_found" {
		t.Errorf("code = %q, want the provisioner's not_found", code)
	}
}

func TestNoStreamMeansOneLine(t *testing.T) {
	prov := newFakeProvisioner()
	close(prov.release)
	ts := startServer(t, Options{Provisioner: prov})
	single(t, roundTrip(t, ts.addr, `{"id": "n1", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "onevm"}}`))
}

func TestOperationGetReportsProgressAndResult(t *testing.T) {
	prov := newFakeProvisioner()
	ts := startServer(t, Options{Provisioner: prov})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "o1", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "opvm"}}`))
	opID := resp["data"].(map[string]any)["operation_id"].(string)
	prov.waitStarted(t)

	get := fmt.Sprintf(`{"id": "o2", "command": "operation.get", "parameters": {"operation_id": %q}}`, opID)
	running := single(t, roundTrip(t, ts.addr, get))
	assertJSONSubset(t, fmt.Sprintf(`{"id": "o2", "status": "ok", "data": {"operation_id": %q, "kind": "provision", "target": "opvm", "state": "running", "stage": "render_seed", "percent": 10}}`, opID), running)

	close(prov.release)
	follow := fmt.Sprintf(`{"id": "o3", "command": "operation.get", "parameters": {"operation_id": %q}, "stream": true}`, opID)
	lines := roundTrip(t, ts.addr, follow)
	final := lines[len(lines)-1]
	assertJSONSubset(t, `{"id": "o3", "status": "ok", "data": {"state": "succeeded", "percent": 100, "result": {"vm_name": "opvm"}}}`, final)

	// The VM is free again.
	again := single(t, roundTrip(t, ts.addr, `{"id": "o4", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "opvm"}}`))
	if again["status"] != "ok" {
		t.Errorf("second provision after the first finished: %v", again)
	}
	prov.waitStarted(t)
}

func TestOperationGetUnknownID(t *testing.T) {
	ts := startServer(t, Options{})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "g1", "command": "operation.get", "parameters": {"operation_id": "op-0000"}}`))
	if code := errorCode(t, resp); code != "not_found" {
		t.Errorf("code = %q, want not_found", code)
	}
}

func TestOperationCancel(t *testing.T) {
	prov := newFakeProvisioner()
	ts := startServer(t, Options{Provisioner: prov})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "k1", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "cancelvm"}}`))
	opID := resp["data"].(map[string]any)["operation_id"].(string)
	prov.waitStarted(t)

	cancel := single(t, roundTrip(t, ts.addr, fmt.Sprintf(`{"id": "k2", "command": "operation.cancel", "parameters": {"operation_id": %q}}`, opID)))
	if cancel["status"] != "ok" {
		t.Fatalf("cancel: %v", cancel)
	}
	info, err := ts.Operations().Follow(context.Background(), opID, false, func(protocol.Progress) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateCanceled || info.Error == nil || !strings.Contains(info.Error.Message, "canceled") {
		t.Errorf("after cancel: state %s, error %v; want canceled with a message", info.State, info.Error)
	}

	again := single(t, roundTrip(t, ts.addr, fmt.Sprintf(`{"id": "k3", "command": "operation.cancel", "parameters": {"operation_id": %q}}`, opID)))
	if code := errorCode(t, again); code != "conflict" {
		t.Errorf("canceling a finished operation: code %q, want conflict", code)
	}
}

func TestHoldSerializesCommands(t *testing.T) {
	ops := newOperations(time.Hour, discardLogger())
	release, err := ops.Hold("vm1", "vm.stop")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ops.Start("provision", "vm1", func(context.Context, func(protocol.Progress)) (any, error) { return nil, nil })
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeConflict || !strings.Contains(perr.Message, "vm.stop") {
		t.Fatalf("Start on a held VM returned %v, want conflict naming vm.stop", err)
	}
	release()
	release() // a second call is harmless
	if _, err := ops.Hold("vm1", "vm.start"); err != nil {
		t.Errorf("Hold after release: %v", err)
	}
}

func TestFinishedOperationsExpire(t *testing.T) {
	ops := newOperations(time.Minute, discardLogger())
	now := time.Now()
	ops.now = func() time.Time { return now }
	info, err := ops.Start("provision", "vm1", func(context.Context, func(protocol.Progress)) (any, error) { return "done", nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Follow(context.Background(), info.ID, false, func(protocol.Progress) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Get(info.ID); err != nil {
		t.Fatalf("Get right after finishing: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := ops.Get(info.ID); err == nil {
		t.Error("operation still visible after its retention time")
	}
}

func TestPanickingHandlerIsInternalError(t *testing.T) {
	ts := startServer(t, Options{})
	err := ts.Register(protocol.Command{Name: "test.panic", Handler: func(context.Context, *protocol.Call) (any, error) {
		panic("boom")
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp := single(t, roundTrip(t, ts.addr, `{"id": "p", "command": "test.panic", "parameters": {}}`))
	if code := errorCode(t, resp); code != "internal" {
		t.Errorf("code = %q, want internal", code)
	}
	// The service still serves.
	assertJSONSubset(t, `{"id": "after", "status": "ok"}`, single(t, roundTrip(t, ts.addr, `{"id": "after", "command": "status", "parameters": {}}`)))
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	srv := New(Options{})
	handler := func(context.Context, *protocol.Call) (any, error) { return nil, nil }
	if err := srv.Register(protocol.Command{Name: "status", Handler: handler}); err == nil {
		t.Error("registering a second status command succeeded")
	}
	if err := srv.Register(protocol.Command{Name: "x", Handler: nil}); err == nil {
		t.Error("registering a nil handler succeeded")
	}
	dup := []protocol.Param{{Name: "a", Type: protocol.TypeString}, {Name: "a", Type: protocol.TypeString}}
	if err := srv.Register(protocol.Command{Name: "y", Params: dup, Handler: handler}); err == nil {
		t.Error("registering repeated parameter names succeeded")
	}
}

func TestRequestLogLine(t *testing.T) {
	ts := startServer(t, Options{})
	single(t, roundTrip(t, ts.addr, `{"id": "log1", "command": "status", "parameters": {}}`))
	single(t, roundTrip(t, ts.addr, `{"id": "log2", "command": "nope", "parameters": {}}`))

	var seen atomic.Int32
	for _, rec := range ts.logs.waitRecords("request", 2) {
		for _, field := range []string{"id", "command", "caller", "duration", "status"} {
			if _, ok := rec[field]; !ok {
				t.Errorf("request log record has no %q: %v", field, rec)
			}
		}
		if rec["id"] == "log2" && rec["code"] != "unknown_command" {
			t.Errorf("error request log should carry the code: %v", rec)
		}
		seen.Add(1)
	}
	if seen.Load() != 2 {
		t.Errorf("got %d request log records, want 2", seen.Load())
	}
}
