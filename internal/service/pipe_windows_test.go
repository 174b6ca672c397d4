//go:build windows

package service

// The TestPipe tests run the server on a real named pipe. Under Wine they
// are the part of this package that scripts/test-windows.sh runs, because
// the other tests use Unix sockets.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/transport"
	"github.com/vmgenie/vmgenie/internal/winetest"
)

var pipeCounter atomic.Int64

// startPipeServer starts a server with opts on a fresh named pipe, which it
// primes for Wine before the first request.
func startPipeServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	addr := fmt.Sprintf(`\\.\pipe\vmgenie-svc-test-%d-%d`, os.Getpid(), pipeCounter.Add(1))
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := transport.Listen(transport.ListenConfig{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := winetest.PrimePipe(addr); err != nil {
		ln.Close()
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

// dialPipe connects to the test server's pipe.
func dialPipe(t *testing.T, addr string) *pipeConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &pipeConn{conn}
}

type pipeConn struct{ net.Conn }

// pipeRoundTrip sends line as it is, without adding "\n", and returns every
// response line until the server closes the connection.
func pipeRoundTrip(t *testing.T, addr, line string) []map[string]any {
	t.Helper()
	conn := dialPipe(t, addr)
	defer conn.Close()
	if _, err := conn.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	return readPipe(t, conn)
}

func readPipe(t *testing.T, conn *pipeConn) []map[string]any {
	t.Helper()
	var lines []map[string]any
	scanner := bufio.NewScanner(conn)
	scanner.Buffer(make([]byte, 64<<10), 4<<20)
	for scanner.Scan() {
		var m map[string]any
		if err := json.Unmarshal(scanner.Bytes(), &m); err != nil {
			t.Fatalf("response line is not a JSON object: %v: %s", err, scanner.Bytes())
		}
		lines = append(lines, m)
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("reading responses failed: %v (lines so far: %v)", err, lines)
	}
	return lines
}

// assertJSONEqual fails unless got encodes to the same JSON value as want.
func assertJSONEqual(t *testing.T, want string, got map[string]any) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(w)
	gotJSON, _ := json.Marshal(got)
	if string(wantJSON) != string(gotJSON) {
		t.Errorf("response differs\n got: %s\nwant: %s", gotJSON, wantJSON)
	}
}

// TestPipeStatusExchange runs the status example of docs/protocol.md.
func TestPipeStatusExchange(t *testing.T) {
	ts := startPipeServer(t, Options{})
	resp := single(t, pipeRoundTrip(t, ts.addr, `{"id": "abc123", "command": "status", "parameters": {}}`+"\n"))
	assertJSONSubset(t, `{"id": "abc123", "command": "status", "status": "ok", "data": {"details": "Service is running.", "driver": "none", "protocol_version": 1, "operations_running": 0}}`, resp)

	data := resp["data"].(map[string]any)
	if want := runtime.GOOS + "/" + runtime.GOARCH; data["platform"] != want {
		t.Errorf("platform = %v, want %s", data["platform"], want)
	}
	if data["pid"] != float64(os.Getpid()) {
		t.Errorf("pid = %v, want %d", data["pid"], os.Getpid())
	}
	for _, field := range []string{"version", "uptime", "uptime_seconds"} {
		if _, ok := data[field]; !ok {
			t.Errorf("status data has no %q field: %v", field, data)
		}
	}
}

// TestPipeProvisionExchange runs the provision example of
// docs/protocol.md with a provisioner that waits.
func TestPipeProvisionExchange(t *testing.T) {
	prov := newFakeProvisioner()
	ts := startPipeServer(t, Options{Provisioner: prov, Driver: "fake"})
	resp := single(t, pipeRoundTrip(t, ts.addr,
		`{"id": "abc456", "command": "provision", "parameters": { "template": "ubuntu-24.04", "vm_name": "testvm" }}`+"\n"))
	assertJSONSubset(t, `{"id": "abc456", "command": "provision", "status": "ok", "data": {"details": "VM 'testvm' provisioning started."}}`, resp)

	opID, _ := resp["data"].(map[string]any)["operation_id"].(string)
	if !strings.HasPrefix(opID, "op-") {
		t.Errorf("operation_id = %q, want an id starting with op-", opID)
	}
	req := prov.waitStarted(t)
	if req.VMName != "testvm" || req.OS != "ubuntu" || req.Version != "24.04" || req.OperationID != opID {
		t.Errorf("provisioner got %+v, want VM testvm from ubuntu 24.04 in operation %s", req, opID)
	}
	close(prov.release)
}

// TestPipeProvisionUnavailable checks the exact answer of docs/protocol.md
// to provision without a hypervisor driver.
func TestPipeProvisionUnavailable(t *testing.T) {
	ts := startPipeServer(t, Options{})
	resp := single(t, pipeRoundTrip(t, ts.addr,
		`{"id": "abc456", "command": "provision", "parameters": { "template": "ubuntu-24.04", "vm_name": "testvm" }}`+"\n"))
	assertJSONEqual(t, `{"id": "abc456", "command": "provision", "status": "error", "data": {"code": "unavailable", "message": "cannot provision VM 'testvm' from template \"ubuntu-24.04\": this service has no hypervisor driver (driver \"none\"), so it cannot create VMs; configure a driver and restart the service"}}`, resp)
}

// TestPipeMistypedParameter checks the exact answer of docs/protocol.md to
// a parameter of the wrong type.
func TestPipeMistypedParameter(t *testing.T) {
	ts := startPipeServer(t, Options{})
	resp := single(t, pipeRoundTrip(t, ts.addr,
		`{"id": "r11", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": 42}}`+"\n"))
	assertJSONEqual(t, `{"id": "r11", "command": "provision", "status": "error", "data": {"code": "invalid_parameter", "message": "command \"provision\": parameter \"vm_name\" must be a string, got number (42)"}}`, resp)
}

// TestPipeStreamedProvision follows a provision with "stream": true: the
// progress lines carry the operation id and the final line the result.
func TestPipeStreamedProvision(t *testing.T) {
	prov := newFakeProvisioner()
	close(prov.release)
	ts := startPipeServer(t, Options{Provisioner: prov, Driver: "fake"})
	lines := pipeRoundTrip(t, ts.addr,
		`{"id": "s1", "command": "provision", "parameters": {"template": "debian-12", "vm_name": "web-1"}, "stream": true}`+"\n")
	if len(lines) < 2 {
		t.Fatalf("got %d lines, want progress lines and a final line: %v", len(lines), lines)
	}
	final := lines[len(lines)-1]
	assertJSONSubset(t, `{"id": "s1", "command": "provision", "status": "ok", "data": {"details": "VM 'web-1' provisioned.", "result": {"vm_name": "web-1"}}}`, final)
	opID, _ := final["data"].(map[string]any)["operation_id"].(string)

	var stages []string
	for _, line := range lines[:len(lines)-1] {
		if line["status"] != "progress" || line["id"] != "s1" {
			t.Errorf("line before the final one is not a progress line of s1: %v", line)
			continue
		}
		data := line["data"].(map[string]any)
		if data["operation_id"] != opID {
			t.Errorf("progress operation_id = %v, want %s", data["operation_id"], opID)
		}
		stages = append(stages, data["stage"].(string))
	}
	if !strings.Contains(strings.Join(stages, ","), "render_seed,boot") {
		t.Errorf("progress stages = %v, want render_seed then boot", stages)
	}
}

// TestPipeMalformedRequests checks that the server answers bad request
// lines over the pipe with the codes of docs/protocol.md and keeps serving.
func TestPipeMalformedRequests(t *testing.T) {
	cases := []struct {
		name     string
		line     string
		wantCode string
		wantID   string
	}{
		{"invalid JSON", `{"id": "r1", "command": "status",`, "invalid_request", ""},
		{"not an object", `["status"]`, "invalid_request", ""},
		{"invalid UTF-8", "{\"id\": \"r2\", \"command\": \"status\", \"parameters\": {\"x\": \"\xff\"}}", "invalid_request", "r2"},
		{"missing id", `{"command": "status", "parameters": {}}`, "invalid_request", ""},
		{"parameters null", `{"id": "r6", "command": "status", "parameters": null}`, "invalid_request", "r6"},
		{"unknown command", `{"id": "r8", "command": "reboot.everything", "parameters": {}}`, "unknown_command", "r8"},
		{"unknown parameter", `{"id": "r9", "command": "status", "parameters": {"verbose": true}}`, "invalid_parameter", "r9"},
		{"missing parameter", `{"id": "r10", "command": "provision", "parameters": {"template": "ubuntu-24.04"}}`, "invalid_parameter", "r10"},
		{"bad VM name", `{"id": "r12", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "CON"}}`, "invalid_parameter", "r12"},
		{"empty line", ``, "invalid_request", ""},
	}
	ts := startPipeServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := single(t, pipeRoundTrip(t, ts.addr, tc.line+"\n"))
			if code := errorCode(t, resp); code != tc.wantCode {
				t.Errorf("code = %q, want %q (message: %s)", code, tc.wantCode, errorMessage(resp))
			}
			if resp["id"] != tc.wantID {
				t.Errorf("id = %v, want %q", resp["id"], tc.wantID)
			}
		})
	}
	resp := single(t, pipeRoundTrip(t, ts.addr, `{"id": "after", "command": "status", "parameters": {}}`+"\n"))
	assertJSONSubset(t, `{"id": "after", "status": "ok"}`, resp)
}

// TestPipeTooLargeRequest sends a line past the limit.
func TestPipeTooLargeRequest(t *testing.T) {
	ts := startPipeServer(t, Options{MaxRequestBytes: 1024})
	conn := dialPipe(t, ts.addr)
	defer conn.Close()
	go func() {
		line := `{"id": "big", "command": "status", "parameters": {"pad": "` + strings.Repeat("x", 64<<10) + `"}}` + "\n"
		_, _ = conn.Write([]byte(line))
	}()
	resp := single(t, readPipe(t, conn))
	if code := errorCode(t, resp); code != "too_large" {
		t.Errorf("code = %q, want too_large", code)
	}
}

// TestPipeRequestTimeout leaves a request line unfinished.
func TestPipeRequestTimeout(t *testing.T) {
	ts := startPipeServer(t, Options{RequestTimeout: 300 * time.Millisecond})
	conn := dialPipe(t, ts.addr)
	defer conn.Close()
	if _, err := conn.Write([]byte(`{"id": "slow", "command": "sta`)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp := single(t, readPipe(t, conn))
	if code := errorCode(t, resp); code != "timeout" {
		t.Errorf("code = %q, want timeout", code)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("timeout answered after %s, want about 300ms", elapsed)
	}
}

// TestPipePermissionDenied rejects the caller and checks that the log
// names it by pid and SID, as PeerOf found them through the pipe.
func TestPipePermissionDenied(t *testing.T) {
	ts := startPipeServer(t, Options{Authorizer: rejectAll{}})
	resp := single(t, pipeRoundTrip(t, ts.addr, `{"id": "d1", "command": "status", "parameters": {}}`+"\n"))
	if code := errorCode(t, resp); code != "permission_denied" {
		t.Errorf("code = %q, want permission_denied", code)
	}
	if resp["id"] != "d1" || resp["command"] != "status" {
		t.Errorf("rejection should echo id and command: %v", resp)
	}
	rejections := ts.logs.waitRecords("caller rejected", 1)
	if len(rejections) != 1 {
		t.Fatalf("got %d rejection log records, want 1", len(rejections))
	}
	rec := rejections[0]
	if rec["pid"] != float64(os.Getpid()) {
		t.Errorf("rejection log pid = %v, want %d", rec["pid"], os.Getpid())
	}
	if sid, _ := rec["sid"].(string); !strings.HasPrefix(sid, "S-1-") {
		t.Errorf("rejection log sid = %q, want a SID", sid)
	}
	if rec["uid"] != float64(-1) {
		t.Errorf("rejection log uid = %v, want -1 on Windows", rec["uid"])
	}
}

// TestPipeRequestsOfPowerShell sends request lines as the VmGenie module
// builds them with ConvertTo-Json -Compress: Windows PowerShell 5.1 escapes
// ', <, > and & as \uXXXX, the module ends lines with "\n", and a host
// that writes with WriteLine on Windows ends them with "\r\n".
func TestPipeRequestsOfPowerShell(t *testing.T) {
	ts := startPipeServer(t, Options{})
	cases := []struct {
		name string
		line string
		want string
	}{
		{"status", `{"id":"ps-1","command":"status","parameters":{},"stream":false}` + "\n",
			`{"id": "ps-1", "command": "status", "status": "ok"}`},
		{"CRLF", `{"id":"ps-2","command":"status","parameters":{},"stream":false}` + "\r\n",
			`{"id": "ps-2", "command": "status", "status": "ok"}`},
		{"help with parameters", `{"id":"ps-3","command":"help","parameters":{"command":"provision"},"stream":false}` + "\n",
			`{"id": "ps-3", "command": "help", "status": "ok"}`},
		{"unicode escapes", `{"id":"ps-4","command":"provision","parameters":{"template":"ubuntu\u002d24.04","vm_name":"test\u0027vm"},"stream":true}` + "\n",
			`{"id": "ps-4", "command": "provision", "status": "error", "data": {"code": "invalid_parameter"}}`},
		{"key order", `{"stream":false,"parameters":{},"command":"status","id":"ps-5"}` + "\n",
			`{"id": "ps-5", "command": "status", "status": "ok"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := single(t, pipeRoundTrip(t, ts.addr, tc.line))
			assertJSONSubset(t, tc.want, resp)
		})
	}
	resp := single(t, pipeRoundTrip(t, ts.addr, `{"id":"ps-6","command":"provision","parameters":{"template":"ubuntu\u002d24.04","vm_name":"testvm"},"stream":true}`+"\n"))
	if msg := errorMessage(resp); !strings.Contains(msg, `"ubuntu-24.04"`) {
		t.Errorf("message %q should quote the decoded template ubuntu-24.04", msg)
	}
}
