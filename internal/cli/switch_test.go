package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv"
)

func TestSwitchListOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("this test checks the message on hosts without Hyper-V")
	}
	code, _, stderr := runVmgenie(t, "switch", "list")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr, "Hyper-V switches exist only on Windows") {
		t.Errorf("stderr = %q, want the Windows-only message", stderr)
	}
}

func TestSwitchListOutput(t *testing.T) {
	orig := listSwitches
	defer func() { listSwitches = orig }()
	listSwitches = func(context.Context, *slog.Logger) ([]hyperv.Switch, error) {
		return []hyperv.Switch{
			{ID: hyperv.DefaultSwitchID, Name: "Przełącznik domyślny", Type: "Internal", Default: true},
			{ID: "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11", Name: "External LAN", Type: "External"},
		}, nil
	}
	code, stdout, stderr := runVmgenie(t, "switch", "list")
	if code != 0 {
		t.Fatalf("exit code = %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"NAME", `"Przełącznik domyślny"`, `"External LAN"`, hyperv.DefaultSwitchID} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = runVmgenie(t, "switch", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("exit code = %d", code)
	}
	var got struct {
		Switches []hyperv.Switch `json:"switches"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decode %q: %v", stdout, err)
	}
	if len(got.Switches) != 2 || !got.Switches[0].Default {
		t.Errorf("json switches = %+v", got.Switches)
	}
}
