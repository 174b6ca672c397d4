package hyperv

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// hostileValues are strings that would change a script if they were
// pasted into its text.
var hostileValues = []string{
	`it's`,
	`$(Remove-Item -Recurse C:\)`,
	"back`tick",
	`a; Stop-Computer`,
	"line\nbreak",
	"External LAN",
	"Przełącznik domyślny",
	`"double" @{x=1} | Out-Null #`,
	strings.Repeat("ą", 120), // 240 bytes: near the file name limit
}

// checkRequests fails t unless every recorded request carries exactly the
// embedded text of its op's script.
func checkRequests(t *testing.T, reqs []hypervtest.Recorded) {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("the double recorded no request")
	}
	for _, r := range reqs {
		s, ok := scripts.Lookup(r.Op)
		if !ok {
			t.Errorf("request %d has unknown op %q", r.ID, r.Op)
			continue
		}
		if r.Script != s.Text {
			t.Errorf("request %d (%s): script text differs from the embedded script", r.ID, r.Op)
		}
	}
}

// inputField returns a string field of a recorded request's input.
func inputField(t *testing.T, r hypervtest.Recorded, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Input, &m); err != nil {
		t.Fatalf("decode input of %s: %v", r.Op, err)
	}
	s, _ := m[field].(string)
	return s
}

func findRequest(reqs []hypervtest.Recorded, op string) (hypervtest.Recorded, bool) {
	for _, r := range reqs {
		if r.Op == op {
			return r, true
		}
	}
	return hypervtest.Recorded{}, false
}

func TestHostileValuesStayData(t *testing.T) {
	for _, v := range hostileValues {
		t.Run(strings.ReplaceAll(v[:min(len(v), 20)], "\n", `\n`), func(t *testing.T) {
			e := newEnv(t, hypervtest.Options{})
			sw := hypervtest.DefaultSwitches()
			wantSwitch := ""
			for _, s := range sw {
				if s.Name == v && wantSwitch == "" {
					wantSwitch = s.ID
				}
			}
			if wantSwitch == "" {
				wantSwitch = "3c2d1e0f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
				sw = append(sw, hypervtest.Switch{ID: wantSwitch, Name: v, Type: "External"})
			}
			e.model.SetOptions(hypervtest.Options{Switches: sw})

			// The value goes into the image and ISO paths and the VM name,
			// where the driver's checks allow it: paths must not hold
			// wildcard characters, and names must be Windows file names.
			dir := filepath.Join(t.TempDir(), strings.Map(func(r rune) rune {
				if strings.ContainsRune("/[]`*?", r) {
					return '_'
				}
				return r
			}, v))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			e.base = filepath.Join(dir, "base.vhdx")
			e.otherISO = filepath.Join(dir, "other.iso")
			for _, f := range []string{e.base, e.otherISO} {
				if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			name := v
			if strings.ContainsAny(v, "/\\\n<>:\"|?*[]`") {
				name = "hostile-vm"
			}
			d := e.driver(t)
			ctx := context.Background()
			spec := e.spec(name)
			spec.Network.Switch = v
			vm, err := d.Create(ctx, spec)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if err := d.Start(ctx, vm.ID); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if err := d.SwapISO(ctx, vm.ID, e.otherISO); err != nil {
				t.Fatalf("SwapISO: %v", err)
			}
			if _, err := d.Stop(ctx, vm.ID, hypervisor.StopOptions{Force: true}); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{}); err != nil {
				t.Fatalf("Delete: %v", err)
			}

			reqs := e.model.Requests()
			checkRequests(t, reqs)
			create, ok := findRequest(reqs, "create-vm")
			if !ok {
				t.Fatal("no create-vm request")
			}
			if got := inputField(t, create, "name"); got != name {
				t.Errorf("create-vm input name = %q, want %q", got, name)
			}
			if got := inputField(t, create, "base"); got != e.base {
				t.Errorf("create-vm input base = %q, want %q", got, e.base)
			}
			if got := inputField(t, create, "switch_id"); got != wantSwitch {
				t.Errorf("create-vm switch_id = %q, want the switch named %q", got, v)
			}
			swap, _ := findRequest(reqs, "swap-iso")
			if got := inputField(t, swap, "path"); got != e.otherISO {
				t.Errorf("swap-iso input path = %q, want %q", got, e.otherISO)
			}
		})
	}
}

func TestLongValueTravelsAsData(t *testing.T) {
	model := hypervtest.NewModel(hypervtest.Options{})
	host, err := pshost.New(pshost.Config{Starter: hypervtest.InProcessStarter{Backend: model}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	long := strings.Repeat(`'$(x)`+"`;\n", 20000) // 180,000 bytes
	err = host.Call(context.Background(), scripts.GetVM, map[string]string{"id": long}, nil, pshost.CallOptions{})
	var se *pshost.ScriptError
	if !errors.As(err, &se) || se.Kind != pshost.KindNotFound {
		t.Fatalf("get-vm with a long id: err = %v, want not_found from the double", err)
	}
	reqs := model.Requests()
	checkRequests(t, reqs)
	if got := inputField(t, reqs[0], "id"); got != long {
		t.Errorf("the long id changed on the way: %d bytes, want %d", len(got), len(long))
	}
}

func FuzzHostileValues(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v)
	}
	f.Add("\x00nul")
	f.Add("\xff\xfe invalid UTF-8")
	f.Fuzz(func(t *testing.T, v string) {
		e := newEnv(t, hypervtest.Options{})
		sw := append(hypervtest.DefaultSwitches(), hypervtest.Switch{ID: "3c2d1e0f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", Name: v, Type: "Private"})
		e.model.SetOptions(hypervtest.Options{Switches: sw})
		d := e.driver(t)
		ctx := context.Background()

		// Every operation that takes a string gets v; most reject it, and
		// none may put it into script text.
		spec := e.spec(v)
		spec.Network.Switch = v
		vm, createErr := d.Create(ctx, spec)
		d.State(ctx, v)
		d.SwapISO(ctx, v, v)
		d.Delete(ctx, v, hypervisor.DeleteOptions{Force: true})
		d.host.Call(ctx, scripts.GetVM, map[string]string{"id": v}, nil, pshost.CallOptions{})

		reqs := e.model.Requests()
		checkRequests(t, reqs)
		if last := reqs[len(reqs)-1]; utf8.ValidString(v) && inputField(t, last, "id") != v {
			t.Errorf("get-vm input id = %q, want %q", inputField(t, last, "id"), v)
		}
		if createErr == nil {
			create, _ := findRequest(reqs, "create-vm")
			if got := inputField(t, create, "name"); got != v {
				t.Errorf("create-vm input name = %q, want %q", got, v)
			}
			if err := d.Delete(ctx, vm.ID, hypervisor.DeleteOptions{Force: true}); err != nil {
				t.Errorf("Delete: %v", err)
			}
		}
	})
}
