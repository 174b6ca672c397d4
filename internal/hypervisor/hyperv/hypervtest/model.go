// Package hypervtest is a test double of Hyper-V behind the driver's
// PowerShell runners. It speaks the runners' protocol (the ready line, JSON
// request lines, JSON response lines, and the one-request environment
// variable). For each embedded script it returns what that script would
// return on a Hyper-V host, applying Hyper-V's state rules: Off, Running,
// Paused and Saved, where Start-VM needs Off or Saved, Suspend-VM needs Running,
// Resume-VM needs Paused, and Remove-VM rejects a VM that is not Off or
// Saved.
//
// The double rejects any request whose script text is not byte-identical
// to the embedded script of its op, and records every request it accepts.
// It runs in-process (InProcessStarter) or as a separate process that
// re-executes the test binary (ProcessStarter and MainIfDouble), so that
// the cost of starting a process is real in benchmarks.
//
// It models the scripts' contract, not PowerShell itself: it cannot show
// that the scripts run on Windows PowerShell. Guest addresses it reports
// come from the documentation ranges 192.0.2.0/24 and 2001:db8::/32, and
// nothing ever connects to them.
package hypervtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// Well-known ids the double checks the driver's requests against.
const (
	DefaultSwitchID     = "c08cb7b8-9b3c-408e-8e30-5e16a3aeb444"
	UEFICATemplateID    = "272e7447-90a4-4563-a4b9-8e4ab00526ce"
	UEFICATemplateName  = "MicrosoftUEFICertificateAuthority"
	KVPIntegrationID    = "2a34b1c2-fd73-4043-8a5b-dd2159bc743f"
	DefaultSwitchPolish = "Przełącznik domyślny"
)

// Options shape the simulated host and guests. The zero value is a healthy
// current host whose guests report addresses through key-value pair
// exchange at the first poll and shut down when asked.
type Options struct {
	// EmptyAddressPolls is how many address polls after a start return no
	// address before the guest reports one.
	EmptyAddressPolls int `json:"empty_address_polls"`
	// NoGuestKVP models a guest without hv_kvp_daemon: IPAddresses stays
	// empty and the integration service reports No Contact.
	NoGuestKVP bool `json:"no_guest_kvp"`
	// NeighborIP, when set, is the address the host's neighbour table
	// holds for every guest's MAC address.
	NeighborIP string `json:"neighbor_ip"`
	// GuestIgnoresShutdown makes graceful stops time out.
	GuestIgnoresShutdown bool `json:"guest_ignores_shutdown"`
	// NoSecureBootTemplateID models a host whose Set-VMFirmware lacks
	// -SecureBootTemplateId.
	NoSecureBootTemplateID bool `json:"no_secure_boot_template_id"`
	// NoAutomaticCheckpoints models Windows Server 2016, whose Set-VM lacks
	// -AutomaticCheckpointsEnabled.
	NoAutomaticCheckpoints bool `json:"no_automatic_checkpoints"`
	// Switches replaces the default switches when not nil.
	Switches []Switch `json:"switches"`
	// Health replaces the facts of the health script when not nil.
	Health *HealthFacts `json:"health"`
}

// Switch is a virtual switch.
type Switch struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// HealthFacts is the output of the health script.
type HealthFacts struct {
	ModulePresent bool   `json:"module_present"`
	ModuleVersion string `json:"module_version"`
	VMMSPresent   bool   `json:"vmms_present"`
	VMMSStatus    string `json:"vmms_status"`
	IsAdmin       bool   `json:"is_admin"`
	IsHyperVAdmin bool   `json:"is_hyperv_admin"`
	User          string `json:"user"`
	OSCaption     string `json:"os_caption"`
	OSVersion     string `json:"os_version"`
	QueryOK       bool   `json:"query_ok"`
	QueryError    string `json:"query_error"`
}

// HealthyFacts returns the facts of a working Windows 11 Pro host.
func HealthyFacts() HealthFacts {
	return HealthFacts{
		ModulePresent: true, ModuleVersion: "2.0.0.0", VMMSPresent: true, VMMSStatus: "Running",
		IsAdmin: true, IsHyperVAdmin: false, User: `HOST\admin`,
		OSCaption: "Microsoft Windows 11 Pro", OSVersion: "10.0.22631", QueryOK: true,
	}
}

// DefaultSwitches returns the switches of a new Model: the Default Switch
// under its Polish name, an external switch whose name has a space, and an
// internal switch whose name looks like PowerShell code.
func DefaultSwitches() []Switch {
	return []Switch{
		{ID: DefaultSwitchID, Name: DefaultSwitchPolish, Type: "Internal"},
		{ID: "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11", Name: "External LAN", Type: "External"},
		{ID: "0d3e5a71-4c2b-4f8e-9a6d-1b7c3e5f9a22", Name: "lab'; $(Remove-Item C:\\) `n", Type: "Private"},
	}
}

// VM is a simulated VM.
type VM struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	State               string `json:"state"`
	Generation          int    `json:"generation"`
	CPUs                int    `json:"cpus"`
	MemoryStartupBytes  int64  `json:"memory_startup_bytes"`
	DynamicMemory       bool   `json:"dynamic_memory"`
	MemoryMinimumBytes  int64  `json:"memory_minimum_bytes"`
	MemoryMaximumBytes  int64  `json:"memory_maximum_bytes"`
	HasDVD              bool   `json:"has_dvd"`
	ISO                 string `json:"iso"`
	Disk                string `json:"disk"`
	Path                string `json:"path"`
	ConfigFile          string `json:"config_file"`
	SwitchID            string `json:"switch_id"`
	MAC                 string `json:"mac"`
	SecureBoot          bool   `json:"secure_boot"`
	SecureBootTemplate  string `json:"secure_boot_template"`
	KVPEnabled          bool   `json:"kvp_enabled"`
	AutomaticCheckpoint bool   `json:"automatic_checkpoints"`
	COM1                string `json:"com1"`
	Notes               string `json:"notes"`
	AddressPolls        int    `json:"address_polls"`
	Index               int    `json:"index"`
}

// Recorded is one request the double accepted.
type Recorded struct {
	Mode   pshost.Mode     `json:"mode"`
	ID     int64           `json:"id"`
	Op     string          `json:"op"`
	Script string          `json:"script"`
	Input  json.RawMessage `json:"input"`
}

// state is everything a Model keeps; ProcessStarter stores it in a file.
type state struct {
	Options  Options        `json:"options"`
	VMs      map[string]*VM `json:"vms"`
	Requests []Recorded     `json:"requests"`
	Created  int            `json:"created"`
}

// Model is a simulated Hyper-V host. It is safe for concurrent use.
type Model struct {
	mu sync.Mutex
	st state
}

// NewModel returns a host with no VMs.
func NewModel(opts Options) *Model {
	if opts.Switches == nil {
		opts.Switches = DefaultSwitches()
	}
	if opts.Health == nil {
		h := HealthyFacts()
		opts.Health = &h
	}
	return &Model{st: state{Options: opts, VMs: map[string]*VM{}}}
}

// SetOptions replaces the options, keeping the VMs.
func (m *Model) SetOptions(opts Options) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if opts.Switches == nil {
		opts.Switches = DefaultSwitches()
	}
	if opts.Health == nil {
		h := HealthyFacts()
		opts.Health = &h
	}
	m.st.Options = opts
}

// Requests returns a copy of the recorded requests.
func (m *Model) Requests() []Recorded {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Recorded(nil), m.st.Requests...)
}

// VM returns a copy of the VM with id, or false.
func (m *Model) VM(id string) (VM, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vm, ok := m.st.VMs[strings.ToLower(id)]
	if !ok {
		return VM{}, false
	}
	return *vm, true
}

// VMs returns copies of all VMs.
func (m *Model) VMs() []VM {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]VM, 0, len(m.st.VMs))
	for _, vm := range m.st.VMs {
		out = append(out, *vm)
	}
	return out
}

// RemoveVM deletes a VM behind the driver's back, as an administrator
// using Hyper-V Manager would.
func (m *Model) RemoveVM(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.st.VMs, strings.ToLower(id))
}

// SetState forces a VM into a Hyper-V state, such as "Saved" or
// "RunningCritical", for tests of states the driver cannot reach itself.
func (m *Model) SetState(id, hyperVState string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	vm, ok := m.st.VMs[strings.ToLower(id)]
	if !ok {
		return fmt.Errorf("hypervtest: no VM %s", id)
	}
	vm.State = hyperVState
	return nil
}

// Handle returns the response to one request in the given mode.
func (m *Model) Handle(mode pshost.Mode, req pshost.Request) pshost.Response {
	script, ok := scripts.Lookup(req.Op)
	if !ok {
		return failure(req.ID, "failed", "ParserError", fmt.Sprintf("hypervtest: no embedded script for op %q", req.Op))
	}
	if req.Script != script.Text {
		return failure(req.ID, "failed", "ParserError",
			fmt.Sprintf("hypervtest: the script text of op %q differs from the embedded script (%d bytes, want %d)", req.Op, len(req.Script), len(script.Text)))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Requests = append(m.st.Requests, Recorded{Mode: mode, ID: req.ID, Op: req.Op, Script: req.Script, Input: req.Input})
	handler, ok := handlers[req.Op]
	if !ok {
		return failure(req.ID, "failed", "NotImplemented", fmt.Sprintf("hypervtest: op %q has no handler", req.Op))
	}
	result, err := handler(m, req.Input)
	if err != nil {
		return pshost.Response{ID: req.ID, OK: false, Error: toScriptError(err)}
	}
	data, jerr := json.Marshal(result)
	if jerr != nil {
		return failure(req.ID, "failed", "WriteError", "hypervtest: encode result: "+jerr.Error())
	}
	return pshost.Response{ID: req.ID, OK: true, Result: data}
}

func failure(id int64, kind, category, message string) pshost.Response {
	return pshost.Response{ID: id, OK: false, Error: &pshost.ScriptError{Kind: kind, Category: category, Message: message}}
}

// psError is an error as a script would raise it.
type psError struct {
	kind, category, message string
}

func (e *psError) Error() string { return e.message }

func toScriptError(err error) *pshost.ScriptError {
	if pe, ok := err.(*psError); ok {
		return &pshost.ScriptError{Kind: pe.kind, Category: pe.category, Message: pe.message,
			Type: "System.InvalidOperationException", ErrorID: "hypervtest"}
	}
	return &pshost.ScriptError{Kind: "failed", Category: "InvalidArgument", Message: err.Error(), ErrorID: "hypervtest"}
}

// Errors as Hyper-V's cmdlets raise them (kind failed), and as the
// scripts raise them with New-GenieException.
func notFound(id string) error {
	return &psError{"not_found", "ObjectNotFound", fmt.Sprintf("no VM with id %s", id)}
}

func wrongState(op string, vm *VM) error {
	return &psError{"failed", "InvalidOperation",
		fmt.Sprintf("%s: '%s' failed to change state: the operation cannot be performed while the object is in state %s", op, vm.Name, vm.State)}
}

func newGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
