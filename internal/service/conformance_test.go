package service

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
)

func TestStatusExchange(t *testing.T) {
	ts := startServer(t, Options{})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "abc123", "command": "status", "parameters": {}}`))
	assertJSONSubset(t, `{"id": "abc123", "command": "status", "status": "ok", "data": {"details": "Service is running."}}`, resp)

	data := resp["data"].(map[string]any)
	for _, field := range []string{"version", "protocol_version", "uptime", "driver", "platform"} {
		if _, ok := data[field]; !ok {
			t.Errorf("status data has no %q field: %v", field, data)
		}
	}
	if data["protocol_version"] != float64(protocol.ProtocolVersion) {
		t.Errorf("protocol_version = %v, want %d", data["protocol_version"], protocol.ProtocolVersion)
	}
}

func TestProvisionExchange(t *testing.T) {
	prov := newFakeProvisioner()
	ts := startServer(t, Options{Provisioner: prov, Driver: "fake"})
	resp := single(t, roundTrip(t, ts.addr,
		`{"id": "abc456", "command": "provision", "parameters": { "template": "ubuntu-24.04", "vm_name": "testvm" }}`))
	assertJSONSubset(t, `{"id": "abc456", "command": "provision", "status": "ok", "data": {"details": "VM 'testvm' provisioning started."}}`, resp)

	opID, _ := resp["data"].(map[string]any)["operation_id"].(string)
	if !strings.HasPrefix(opID, "op-") {
		t.Errorf("operation_id = %q, want an id starting with op-", opID)
	}
	req := prov.waitStarted(t)
	if req.OS != "ubuntu" || req.Version != "24.04" || req.VMName != "testvm" || req.OperationID != opID {
		t.Errorf("provisioner got %+v, want OS ubuntu, version 24.04, VM testvm, operation %s", req, opID)
	}
	close(prov.release)
}

func TestProvisionUnavailableWithoutDriver(t *testing.T) {
	ts := startServer(t, Options{})
	resp := single(t, roundTrip(t, ts.addr,
		`{"id": "abc456", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "testvm"}}`))
	if code := errorCode(t, resp); code != "unavailable" {
		t.Errorf("code = %q, want unavailable", code)
	}
	if msg := errorMessage(resp); !strings.Contains(msg, "testvm") || !strings.Contains(msg, "driver") {
		t.Errorf("message %q should name the VM and the missing driver", msg)
	}
}

func TestProvisionValidatesBeforeUnavailable(t *testing.T) {
	ts := startServer(t, Options{})
	resp := single(t, roundTrip(t, ts.addr,
		`{"id": "p1", "command": "provision", "parameters": {"template": "ubuntu", "vm_name": "testvm"}}`))
	if code := errorCode(t, resp); code != "invalid_parameter" {
		t.Errorf("code = %q, want invalid_parameter", code)
	}
}

// TestMalformedRequests covers every malformed request the protocol names.
// Each case checks the error code and that id and command are echoed
// whenever the request made them readable.
func TestMalformedRequests(t *testing.T) {
	cases := []struct {
		name        string
		line        string
		wantCode    string
		wantID      string
		wantCommand string
		wantInMsg   string
	}{
		{"invalid JSON", `{"id": "r1", "command": "status",`, "invalid_request", "", "", "JSON"},
		{"not an object", `["status"]`, "invalid_request", "", "", "object"},
		{"invalid UTF-8", "{\"id\": \"r2\", \"command\": \"status\", \"parameters\": {\"x\": \"\xff\xfe\"}}", "invalid_request", "r2", "status", "UTF-8"},
		{"missing id", `{"command": "status", "parameters": {}}`, "invalid_request", "", "status", `"id"`},
		{"non-string id", `{"id": 7, "command": "status", "parameters": {}}`, "invalid_request", "", "status", `"id" must be a string`},
		{"missing command", `{"id": "r3", "parameters": {}}`, "invalid_request", "r3", "", `"command"`},
		{"non-string command", `{"id": "r4", "command": ["status"], "parameters": {}}`, "invalid_request", "r4", "", `"command" must be a string`},
		{"parameters not an object", `{"id": "r5", "command": "status", "parameters": [1, 2]}`, "invalid_request", "r5", "status", `"parameters" must be a JSON object`},
		{"parameters null", `{"id": "r6", "command": "status", "parameters": null}`, "invalid_request", "r6", "status", "null"},
		{"stream not a boolean", `{"id": "r7", "command": "status", "parameters": {}, "stream": "yes"}`, "invalid_request", "r7", "status", `"stream"`},
		{"unknown command", `{"id": "r8", "command": "reboot.everything", "parameters": {}}`, "unknown_command", "r8", "reboot.everything", "help"},
		{"unknown parameter", `{"id": "r9", "command": "status", "parameters": {"verbose": true}}`, "invalid_parameter", "r9", "status", `unknown parameter "verbose"`},
		{"missing parameter", `{"id": "r10", "command": "provision", "parameters": {"template": "ubuntu-24.04"}}`, "invalid_parameter", "r10", "provision", `missing parameter "vm_name"`},
		{"mistyped parameter", `{"id": "r11", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": 42}}`, "invalid_parameter", "r11", "provision", `"vm_name" must be a string, got number`},
		{"bad parameter value", `{"id": "r12", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "../etc"}}`, "invalid_parameter", "r12", "provision", "vm_name"},
		{"empty line", ``, "invalid_request", "", "", "empty"},
	}
	ts := startServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := single(t, roundTrip(t, ts.addr, tc.line))
			if code := errorCode(t, resp); code != tc.wantCode {
				t.Errorf("code = %q, want %q (message: %s)", code, tc.wantCode, errorMessage(resp))
			}
			if resp["id"] != tc.wantID {
				t.Errorf("id = %v, want %q", resp["id"], tc.wantID)
			}
			if resp["command"] != tc.wantCommand {
				t.Errorf("command = %v, want %q", resp["command"], tc.wantCommand)
			}
			if msg := errorMessage(resp); !strings.Contains(msg, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tc.wantInMsg)
			}
		})
	}
}

func TestUnknownRequestFieldsIgnored(t *testing.T) {
	ts := startServer(t, Options{})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "u1", "command": "status", "parameters": {}, "trace": {"span": 1}}`))
	assertJSONSubset(t, `{"id": "u1", "command": "status", "status": "ok"}`, resp)
}

func TestTooLargeRequest(t *testing.T) {
	ts := startServer(t, Options{MaxRequestBytes: 1024})
	conn := dial(t, ts.addr)
	defer conn.Close()

	// Send far more than the limit. The server stops reading at the limit,
	// so the write may fail once it has responded and closed.
	go func() {
		line := `{"id": "big", "command": "status", "parameters": {"pad": "` + strings.Repeat("x", 64<<10) + `"}}` + "\n"
		_, _ = conn.Write([]byte(line))
	}()
	resp := single(t, readAll(t, conn))
	if code := errorCode(t, resp); code != "too_large" {
		t.Errorf("code = %q, want too_large", code)
	}
	if msg := errorMessage(resp); !strings.Contains(msg, "1024 bytes") {
		t.Errorf("message %q should state the limit", msg)
	}

	// A line of exactly the limit is still served.
	exact := `{"id": "fits", "command": "status", "parameters": {}}`
	exact += strings.Repeat(" ", 1024-len(exact))
	resp = single(t, roundTrip(t, ts.addr, exact))
	assertJSONSubset(t, `{"id": "fits", "status": "ok"}`, resp)
}

func TestRequestTimeout(t *testing.T) {
	ts := startServer(t, Options{RequestTimeout: 300 * time.Millisecond})
	conn := dial(t, ts.addr)
	defer conn.Close()
	if _, err := conn.Write([]byte(`{"id": "slow", "command": "sta`)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp := single(t, readAll(t, conn))
	if code := errorCode(t, resp); code != "timeout" {
		t.Errorf("code = %q, want timeout", code)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("timeout answered after %s, want about 300ms", elapsed)
	}
}

func TestConflictOnBusyVM(t *testing.T) {
	prov := newFakeProvisioner()
	ts := startServer(t, Options{Provisioner: prov})
	first := single(t, roundTrip(t, ts.addr, `{"id": "c1", "command": "provision", "parameters": {"template": "debian-12", "vm_name": "web-1"}}`))
	opID := first["data"].(map[string]any)["operation_id"].(string)
	prov.waitStarted(t)

	second := single(t, roundTrip(t, ts.addr, `{"id": "c2", "command": "provision", "parameters": {"template": "debian-12", "vm_name": "web-1"}}`))
	if code := errorCode(t, second); code != "conflict" {
		t.Fatalf("code = %q, want conflict", code)
	}
	msg := errorMessage(second)
	for _, want := range []string{"web-1", opID, "provision", "render_seed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("conflict message %q should name %q", msg, want)
		}
	}

	// Another VM is not blocked.
	other := single(t, roundTrip(t, ts.addr, `{"id": "c3", "command": "provision", "parameters": {"template": "debian-12", "vm_name": "web-2"}}`))
	assertJSONSubset(t, `{"id": "c3", "status": "ok", "data": {"details": "VM 'web-2' provisioning started."}}`, other)
	prov.waitStarted(t)
	close(prov.release)
}

func TestPermissionDenied(t *testing.T) {
	ts := startServer(t, Options{Authorizer: rejectAll{}})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "d1", "command": "status", "parameters": {}}`))
	if code := errorCode(t, resp); code != "permission_denied" {
		t.Errorf("code = %q, want permission_denied", code)
	}
	if resp["id"] != "d1" || resp["command"] != "status" {
		t.Errorf("rejection should echo id and command: %v", resp)
	}

	rejections := ts.logs.records("caller rejected")
	if len(rejections) != 1 {
		t.Fatalf("got %d rejection log records, want 1", len(rejections))
	}
	rec := rejections[0]
	if rec["uid"] != float64(os.Getuid()) || rec["pid"] != float64(os.Getpid()) {
		t.Errorf("rejection log should carry our uid %d and pid %d: %v", os.Getuid(), os.Getpid(), rec)
	}
	if caller, _ := rec["caller"].(string); !strings.Contains(caller, "uid") {
		t.Errorf("rejection log caller %q should name the user", caller)
	}
}

func TestHelpListsCommandsWithParameters(t *testing.T) {
	ts := startServer(t, Options{})
	resp := single(t, roundTrip(t, ts.addr, `{"id": "h1", "command": "help", "parameters": {}}`))
	raw, _ := json.Marshal(resp["data"])
	var help HelpData
	if err := json.Unmarshal(raw, &help); err != nil {
		t.Fatal(err)
	}
	byName := map[string]protocol.CommandInfo{}
	for _, c := range help.Commands {
		byName[c.Name] = c
	}
	for _, name := range []string{"help", "status", "provision", "operation.get", "operation.list", "operation.cancel"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("help does not list %q", name)
		}
	}
	prov := byName["provision"]
	if len(prov.Params) != 2 || prov.Params[0].Name != "template" || !prov.Params[0].Required ||
		prov.Params[0].Type != protocol.TypeString || prov.Params[1].Name != "vm_name" {
		t.Errorf("provision parameters = %+v, want required strings template and vm_name", prov.Params)
	}
	if !prov.Streams {
		t.Error("provision should declare that it streams")
	}
}
