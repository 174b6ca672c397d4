package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
)

// lockedBuffer is a bytes.Buffer safe for the serve command's concurrent
// log writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs "vmgenie serve --user --socket PATH" in the background
// and returns the socket path once it accepts connections.
func startServe(t *testing.T, extraArgs ...string) (string, *lockedBuffer) {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmgcli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	// A config of the test's own keeps the service out of the user's data
	// directory and without a hypervisor, whatever the machine has.
	config := filepath.Join(dir, "config.yml")
	configText := "data_dir: " + filepath.Join(dir, "data") + "\nlog:\n  file: " + filepath.Join(dir, "vmgenie.log") + "\ndriver: none\n"
	if err := os.WriteFile(config, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	a := &app{stdin: strings.NewReader(""), stdout: logs, stderr: logs}
	root := newRootCommand(a)
	root.SetArgs(append([]string{"serve", "--user", "--config", config, "--socket", path}, extraArgs...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return path, logs
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not create %s within 10s\n%s", path, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run executes the CLI and returns its exit code, stdout and stderr.
func run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Execute(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestServeAndStatus(t *testing.T) {
	path, logs := startServe(t)

	code, out, errOut := run("status", "--socket", path)
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Service is running.") || !strings.Contains(out, "PROTOCOL") {
		t.Errorf("status table:\n%s", out)
	}

	code, out, _ = run("status", "--socket", path, "-o", "json")
	var data map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &data) != nil || data["details"] != "Service is running." {
		t.Errorf("status -o json exit %d:\n%s", code, out)
	}

	if !strings.Contains(logs.String(), "msg=request") || !strings.Contains(logs.String(), "command=status") {
		t.Errorf("serve should log each request at level info by default:\n%s", logs.String())
	}
}

func TestStatusNotRunning(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut := run("status", "--socket", missing)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "not running") || !strings.Contains(errOut, "vmgenie serve") {
		t.Errorf("stderr should say the service is not running and how to start it:\n%s", errOut)
	}
}

func TestCallPrintsResponses(t *testing.T) {
	path, _ := startServe(t)

	code, out, _ := run("call", "status", "--socket", path)
	var resp protocol.Response
	if code != 0 || json.Unmarshal([]byte(out), &resp) != nil || resp.Status != "ok" || resp.Command != "status" {
		t.Errorf("call status exit %d:\n%s", code, out)
	}

	code, out, errOut := run("call", "provision", "--socket", path, "--json", `{"template":"ubuntu-24.04"}`, "--param", "vm_name=testvm")
	if code != exitErrorResponse {
		t.Errorf("call provision exit %d, want %d for an error response", code, exitErrorResponse)
	}
	if json.Unmarshal([]byte(out), &resp) != nil || resp.Err() == nil || resp.Err().Code != protocol.CodeUnavailable {
		t.Errorf("call provision printed:\n%s", out)
	}
	if !strings.Contains(errOut, "unavailable") {
		t.Errorf("stderr should repeat the error:\n%s", errOut)
	}

	code, out, _ = run("call", "help", "--socket", path, "--param", "command=status")
	if code != 0 || !strings.Contains(out, `"name":"status"`) {
		t.Errorf("call help --param command=status exit %d:\n%s", code, out)
	}
}

func TestCallRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"call", "status", "--socket", "/nonexistent/s.sock", "--json", "[1]"},
		{"call", "status", "--socket", "/nonexistent/s.sock", "--json", "{"},
	} {
		code, _, errOut := run(args...)
		if code != 1 || !strings.Contains(errOut, "invalid --json") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestParseParamConvertsDeclaredTypes(t *testing.T) {
	types := map[string]protocol.Type{
		"cpus": protocol.TypeInteger, "ratio": protocol.TypeNumber, "force": protocol.TypeBoolean,
		"tags": protocol.TypeStringList, "labels": protocol.TypeObject, "name": protocol.TypeString,
	}
	cases := []struct {
		pair string
		want any
	}{
		{"cpus=4", int64(4)},
		{"ratio=0.5", 0.5},
		{"force=true", true},
		{"tags=a,b", []string{"a", "b"}},
		{"tags=", []string{}},
		{`labels={"k":"v"}`, map[string]any{"k": "v"}},
		{"name=42", "42"},
		{"undeclared=x=y", "x=y"},
	}
	for _, tc := range cases {
		_, got, err := parseParam(tc.pair, types)
		if err != nil {
			t.Errorf("%s: %v", tc.pair, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.pair, got, tc.want)
		}
	}
	for _, bad := range []string{"cpus=four", "force=maybe", "ratio=x", "labels={", "novalue", "=x"} {
		if _, _, err := parseParam(bad, types); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

func TestServeRejectsBadLimits(t *testing.T) {
	for _, flag := range []string{"--max-connections=0", "--max-request-bytes=-1", "--request-timeout=0s", "--shutdown-timeout=-1s"} {
		code, _, errOut := run("serve", "--user", "--socket", "/nonexistent/dir/s.sock", flag)
		name := strings.SplitN(strings.TrimPrefix(flag, "--"), "=", 2)[0]
		if code != 1 || !strings.Contains(errOut, "invalid --"+name) {
			t.Errorf("%s: exit %d, stderr %q", flag, code, errOut)
		}
	}
}
