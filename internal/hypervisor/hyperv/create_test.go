package hyperv

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

// createRequest returns the decoded input of the last create-vm request.
func createRequest(t *testing.T, m *hypervtest.Model) createInput {
	t.Helper()
	var in createInput
	found := false
	for _, r := range m.Requests() {
		if r.Op == "create-vm" {
			if err := json.Unmarshal(r.Input, &in); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no create-vm request")
	}
	return in
}

func TestCreateSendsHyperVSettings(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	vm, err := d.Create(context.Background(), e.spec("web-1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	in := createRequest(t, e.model)
	if in.Generation != 2 {
		t.Errorf("generation = %d, want 2 for UEFI", in.Generation)
	}
	if !in.SecureBoot.Enabled || in.SecureBoot.TemplateID != UEFICATemplateID || in.SecureBoot.TemplateName != UEFICATemplateName {
		t.Errorf("secure boot = %+v, want on with the Microsoft UEFI CA template", in.SecureBoot)
	}
	if in.SwitchID != DefaultSwitchID {
		t.Errorf("switch_id = %q, want the Default Switch %s", in.SwitchID, DefaultSwitchID)
	}
	if in.KVPServiceID != KVPIntegrationServiceID {
		t.Errorf("kvp_service_id = %q, want %q", in.KVPServiceID, KVPIntegrationServiceID)
	}
	if !regexp.MustCompile(`^\\\\\.\\pipe\\vmgenie-com1-[0-9a-f]{16}$`).MatchString(in.COM1Pipe) {
		t.Errorf("com1_pipe = %q, want \\\\.\\pipe\\vmgenie-com1-<16 hex digits>", in.COM1Pipe)
	}
	if !regexp.MustCompile(`^[0-9A-F]{12}$`).MatchString(in.MAC) {
		t.Fatalf("mac = %q, want 12 upper-case hex digits", in.MAC)
	}
	if first := in.MAC[:2]; first[1] != '2' && first[1] != '6' && first[1] != 'A' && first[1] != 'E' {
		t.Errorf("generated mac %s is not a locally administered unicast address", in.MAC)
	}
	if in.DynamicMemory.Enabled {
		t.Error("dynamic memory is on, want static memory by default")
	}
	if in.Disk != filepath.Join(e.root, "web-1", "disk.vhdx") || in.Base != e.base {
		t.Errorf("disk = %q on base %q, want disk.vhdx in the instance directory on %s", in.Disk, in.Base, e.base)
	}
	if in.VMPath != filepath.Join(e.root, "web-1", vmDirName) {
		t.Errorf("vm_path = %q", in.VMPath)
	}

	rec, err := loadRecord(filepath.Join(e.root, "web-1"))
	if err != nil {
		t.Fatalf("load record: %v", err)
	}
	if rec.ID != vm.ID || rec.COM1Pipe != in.COM1Pipe || rec.MAC != in.MAC {
		t.Errorf("record %+v does not match the VM %s and the request", rec, vm.ID)
	}
	fi, err := os.Stat(e.base)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("base image mode = %v, want read-only", fi.Mode().Perm())
	}
}

func TestCreateBIOSUsesGeneration1(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	spec := e.spec("legacy")
	spec.Boot = hypervisor.Boot{Firmware: hypervisor.FirmwareBIOS}
	if _, err := d.Create(context.Background(), spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	in := createRequest(t, e.model)
	if in.Generation != 1 || in.SecureBoot.Enabled {
		t.Errorf("generation %d with secure boot %v, want Generation 1 without secure boot", in.Generation, in.SecureBoot.Enabled)
	}
}

func TestCreateSecureBootOff(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	spec := e.spec("no-sb")
	spec.Boot.SecureBoot = false
	vm, err := d.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, _ := e.model.VM(vm.ID); got.SecureBoot || got.Generation != 2 {
		t.Errorf("double VM: secure boot %v, generation %d; want off on Generation 2", got.SecureBoot, got.Generation)
	}
}

func TestCreateOnOlderHosts(t *testing.T) {
	e := newEnv(t, hypervtest.Options{NoSecureBootTemplateID: true, NoAutomaticCheckpoints: true})
	d := e.driver(t)
	vm, err := d.Create(context.Background(), e.spec("old-host"))
	if err != nil {
		t.Fatalf("Create on a host without -SecureBootTemplateId and -AutomaticCheckpointsEnabled: %v", err)
	}
	got, _ := e.model.VM(vm.ID)
	if got.SecureBootTemplate != UEFICATemplateName {
		t.Errorf("secure boot template = %q, want it chosen by name %q", got.SecureBootTemplate, UEFICATemplateName)
	}
}

func TestCreateStaticMACAndDynamicMemory(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	host, err := pshost.New(pshost.Config{Starter: e.starter, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	d, err := New(Config{Root: e.root, Host: host, Logger: quietLogger(), DynamicMemory: &DynamicMemory{}})
	if err != nil {
		t.Fatal(err)
	}
	spec := e.spec("dyn")
	spec.Network.MAC = "52:54:00:12:34:56"
	spec.MemoryBytes = 256 * hypervisor.MiB
	if _, err := d.Create(context.Background(), spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	in := createRequest(t, e.model)
	if in.MAC != "525400123456" {
		t.Errorf("mac = %q, want 525400123456", in.MAC)
	}
	want := dynamicMemoryInput{Enabled: true, MinimumBytes: 256 * hypervisor.MiB, MaximumBytes: 256 * hypervisor.MiB}
	if in.DynamicMemory != want {
		t.Errorf("dynamic memory = %+v, want %+v", in.DynamicMemory, want)
	}
}

func TestDynamicMemoryDefaults(t *testing.T) {
	cases := []struct {
		dm      DynamicMemory
		startup uint64
		want    dynamicMemoryInput
	}{
		{DynamicMemory{}, 2048 * hypervisor.MiB, dynamicMemoryInput{true, 512 * hypervisor.MiB, 2048 * hypervisor.MiB}},
		{DynamicMemory{}, 256 * hypervisor.MiB, dynamicMemoryInput{true, 256 * hypervisor.MiB, 256 * hypervisor.MiB}},
		{DynamicMemory{MinimumBytes: 1024 * hypervisor.MiB, MaximumBytes: 8192 * hypervisor.MiB}, 2048 * hypervisor.MiB, dynamicMemoryInput{true, 1024 * hypervisor.MiB, 8192 * hypervisor.MiB}},
		{DynamicMemory{MinimumBytes: 4096 * hypervisor.MiB, MaximumBytes: 1024 * hypervisor.MiB}, 2048 * hypervisor.MiB, dynamicMemoryInput{true, 2048 * hypervisor.MiB, 2048 * hypervisor.MiB}},
	}
	for _, tc := range cases {
		if got := dynamicMemoryFor(tc.dm, tc.startup); got != tc.want {
			t.Errorf("dynamicMemoryFor(%+v, %d) = %+v, want %+v", tc.dm, tc.startup, got, tc.want)
		}
	}
}

func TestCreateWithoutDefaultSwitch(t *testing.T) {
	e := newEnv(t, hypervtest.Options{Switches: []hypervtest.Switch{{ID: "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11", Name: "External LAN", Type: "External"}}})
	d := e.driver(t)
	_, err := d.Create(context.Background(), e.spec("nosw"))
	if !errors.Is(err, hypervisor.ErrInvalidSpec) || !errors.Is(err, ErrSwitchNotFound) {
		t.Fatalf("err = %v, want ErrInvalidSpec and ErrSwitchNotFound", err)
	}
	if !strings.Contains(err.Error(), `"External LAN" (External`) {
		t.Errorf("error does not list the existing switches: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "nosw")); !os.IsNotExist(err) {
		t.Errorf("a rejected Create left the instance directory (stat err = %v)", err)
	}
}

func TestCreateBySwitchName(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	spec := e.spec("ext")
	spec.Network.Switch = "External LAN"
	if _, err := d.Create(context.Background(), spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if in := createRequest(t, e.model); in.SwitchID != "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11" {
		t.Errorf("switch_id = %q, want the External LAN switch", in.SwitchID)
	}
}

func TestCreateRejectsSpec(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	d := e.driver(t)
	qcow := filepath.Join(t.TempDir(), "base.qcow2")
	os.WriteFile(qcow, []byte("x"), 0o644)
	wild := filepath.Join(t.TempDir(), "img[1].vhdx")
	os.WriteFile(wild, []byte("x"), 0o644)
	cases := []struct {
		name   string
		change func(*hypervisor.Spec)
		kind   error
		words  string
	}{
		{"kernel boot", func(s *hypervisor.Spec) { s.Boot.Kernel = qcow }, hypervisor.ErrUnsupported, "direct kernel boot"},
		{"restrict", func(s *hypervisor.Spec) { s.Network.Restrict = true }, hypervisor.ErrUnsupported, "restrict=on"},
		{"odd memory", func(s *hypervisor.Spec) { s.MemoryBytes = 1025 * hypervisor.MiB }, hypervisor.ErrInvalidSpec, "2 MiB"},
		{"qcow2 base", func(s *hypervisor.Spec) { s.Image = hypervisor.Image{Path: qcow, Format: "qcow2"} }, hypervisor.ErrInvalidSpec, "PrepareBaseImage"},
		{"wildcard path", func(s *hypervisor.Spec) { s.Image.Path = wild }, hypervisor.ErrInvalidSpec, "wildcards"},
		{"missing ISO", func(s *hypervisor.Spec) { s.SeedISO = filepath.Join(t.TempDir(), "none.iso") }, hypervisor.ErrInvalidSpec, "seed ISO"},
		{"dir outside root", func(s *hypervisor.Spec) { s.Dir = filepath.Join(t.TempDir(), s.Name) }, hypervisor.ErrInvalidSpec, "direct child"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.spec("bad-spec")
			tc.change(&spec)
			_, err := d.Create(context.Background(), spec)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error lacks %q: %v", tc.words, err)
			}
		})
	}
	for _, name := range []string{`say "hi"`, "a|b", "pipe?", "dot."} {
		spec := e.spec(name)
		if _, err := d.Create(context.Background(), spec); !errors.Is(err, hypervisor.ErrInvalidSpec) {
			t.Errorf("Create with name %q: err = %v, want ErrInvalidSpec", name, err)
		}
	}
	for _, r := range e.model.Requests() {
		if r.Op == "create-vm" {
			t.Errorf("a rejected spec reached create-vm")
		}
	}
}

func TestCreateConflictWithHyperVName(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	other := *e
	other.root = t.TempDir()
	if _, err := other.driver(t).Create(context.Background(), other.spec("twin")); err != nil {
		t.Fatal(err)
	}
	_, err := e.driver(t).Create(context.Background(), e.spec("twin"))
	if !errors.Is(err, hypervisor.ErrConflict) {
		t.Fatalf("Create of a name Hyper-V already has: err = %v, want ErrConflict", err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "twin")); !os.IsNotExist(err) {
		t.Errorf("the rejected Create left its directory (stat err = %v)", err)
	}
}

// failingBackend fails one op as Hyper-V would.
type failingBackend struct {
	inner hypervtest.Backend
	op    string
}

func (f failingBackend) Handle(mode pshost.Mode, req pshost.Request) pshost.Response {
	if req.Op == f.op {
		return pshost.Response{ID: req.ID, Error: &pshost.ScriptError{Kind: "failed", Message: "New-VM: the operation failed"}}
	}
	return f.inner.Handle(mode, req)
}

func TestCreateFailureCleansUp(t *testing.T) {
	e := newEnv(t, hypervtest.Options{})
	e.starter = hypervtest.InProcessStarter{Backend: failingBackend{inner: e.model, op: "create-vm"}}
	d := e.driver(t)
	_, err := d.Create(context.Background(), e.spec("broken"))
	if err == nil || !strings.Contains(err.Error(), "New-VM: the operation failed") {
		t.Fatalf("err = %v, want the script's error", err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "broken")); !os.IsNotExist(err) {
		t.Errorf("a failed Create left its directory (stat err = %v)", err)
	}
}
