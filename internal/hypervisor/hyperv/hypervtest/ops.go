package hypervtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

type handler func(m *Model, input json.RawMessage) (any, error)

var handlers = map[string]handler{
	"health":              (*Model).health,
	"list-switches":       (*Model).listSwitches,
	"create-vm":           (*Model).createVM,
	"get-vm":              (*Model).getVM,
	"list-vms":            (*Model).listVMs,
	"start-vm":            (*Model).startVM,
	"stop-vm":             (*Model).stopVM,
	"suspend-vm":          (*Model).suspendVM,
	"resume-vm":           (*Model).resumeVM,
	"discard-saved-state": (*Model).discardSavedState,
	"delete-vm":           (*Model).deleteVM,
	"swap-iso":            (*Model).swapISO,
	"vm-addresses":        (*Model).vmAddresses,
}

func decode(input json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(input)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &psError{"failed", "InvalidArgument", "hypervtest: the input does not match the script's contract: " + err.Error()}
	}
	return nil
}

// info is the output of Get-GenieVMInfo in lib.ps1.
func (vm *VM) info() map[string]any {
	iso := ""
	if vm.HasDVD {
		iso = vm.ISO
	}
	return map[string]any{
		"id": vm.ID, "name": vm.Name, "state": vm.State, "status": "Operating normally",
		"generation": vm.Generation, "cpus": vm.CPUs, "memory_startup_bytes": vm.MemoryStartupBytes,
		"dynamic_memory": vm.DynamicMemory, "iso": iso, "mac": vm.MAC, "switch_id": vm.SwitchID, "path": vm.Path,
	}
}

type idInput struct {
	ID string `json:"id"`
}

func (m *Model) find(input json.RawMessage) (*VM, error) {
	var in idInput
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	return m.lookup(in.ID)
}

func (m *Model) lookup(id string) (*VM, error) {
	if !guidPattern.MatchString(id) {
		return nil, &psError{"not_found", "ObjectNotFound", fmt.Sprintf("no VM with id %s: the id is not a GUID", id)}
	}
	vm, ok := m.st.VMs[strings.ToLower(id)]
	if !ok {
		return nil, notFound(id)
	}
	return vm, nil
}

var (
	guidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
	macPattern  = regexp.MustCompile(`^[0-9A-Fa-f]{12}$`)
)

func (m *Model) health(input json.RawMessage) (any, error) {
	return *m.st.Options.Health, nil
}

func (m *Model) listSwitches(input json.RawMessage) (any, error) {
	return map[string]any{"switches": m.st.Options.Switches}, nil
}

type createInput struct {
	Name          string `json:"name"`
	VMPath        string `json:"vm_path"`
	Disk          string `json:"disk"`
	Base          string `json:"base"`
	DiskBytes     int64  `json:"disk_bytes"`
	Generation    int    `json:"generation"`
	CPUs          int    `json:"cpus"`
	MemoryBytes   int64  `json:"memory_bytes"`
	DynamicMemory struct {
		Enabled      bool  `json:"enabled"`
		MinimumBytes int64 `json:"minimum_bytes"`
		MaximumBytes int64 `json:"maximum_bytes"`
	} `json:"dynamic_memory"`
	ISO        string `json:"iso"`
	SwitchID   string `json:"switch_id"`
	MAC        string `json:"mac"`
	SecureBoot struct {
		Enabled      bool   `json:"enabled"`
		TemplateID   string `json:"template_id"`
		TemplateName string `json:"template_name"`
	} `json:"secure_boot"`
	KVPServiceID string `json:"kvp_service_id"`
	COM1Pipe     string `json:"com1_pipe"`
	Notes        string `json:"notes"`
}

func invalidArgument(format string, args ...any) error {
	return &psError{"failed", "InvalidArgument", fmt.Sprintf(format, args...)}
}

func (m *Model) createVM(input json.RawMessage) (any, error) {
	var in createInput
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	for _, vm := range m.st.VMs {
		if strings.EqualFold(vm.Name, in.Name) {
			return nil, &psError{"conflict", "InvalidOperation", fmt.Sprintf("Hyper-V already has a VM named %s (id %s)", in.Name, vm.ID)}
		}
	}
	var sw *Switch
	for i := range m.st.Options.Switches {
		if strings.EqualFold(m.st.Options.Switches[i].ID, in.SwitchID) {
			sw = &m.st.Options.Switches[i]
		}
	}
	if sw == nil {
		return nil, &psError{"invalid_input", "InvalidArgument", fmt.Sprintf("no virtual switch with id %s", in.SwitchID)}
	}
	if err := m.checkCreate(in); err != nil {
		return nil, err
	}

	// New-VHD -Differencing refuses an existing file and a missing parent.
	if _, err := os.Stat(in.Base); err != nil {
		return nil, &psError{"failed", "ObjectNotFound", fmt.Sprintf("New-VHD: the parent virtual disk %s does not exist: %v", in.Base, err)}
	}
	disk, err := os.OpenFile(in.Disk, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, &psError{"failed", "ResourceExists", fmt.Sprintf("New-VHD: cannot create %s: %v", in.Disk, err)}
	}
	fmt.Fprintf(disk, "hypervtest differencing disk\nparent=%s\nsize=%d\n", in.Base, in.DiskBytes)
	disk.Close()

	id := newGUID()
	// New-VM -Path keeps the configuration under the given directory.
	config := filepath.Join(in.VMPath, "Virtual Machines", strings.ToUpper(id)+".vmcx")
	if err := os.MkdirAll(filepath.Dir(config), 0o700); err != nil {
		os.Remove(in.Disk)
		return nil, &psError{"failed", "WriteError", fmt.Sprintf("New-VM: %v", err)}
	}
	if err := os.WriteFile(config, []byte("hypervtest VM configuration\n"), 0o600); err != nil {
		os.Remove(in.Disk)
		return nil, &psError{"failed", "WriteError", fmt.Sprintf("New-VM: %v", err)}
	}

	m.st.Created++
	vm := &VM{
		ID: id, Name: in.Name, State: "Off", Generation: in.Generation, CPUs: in.CPUs,
		MemoryStartupBytes: in.MemoryBytes, DynamicMemory: in.DynamicMemory.Enabled,
		MemoryMinimumBytes: in.DynamicMemory.MinimumBytes, MemoryMaximumBytes: in.DynamicMemory.MaximumBytes,
		HasDVD: true, ISO: in.ISO, Disk: in.Disk, Path: in.VMPath, ConfigFile: config,
		SwitchID: sw.ID, MAC: strings.ToUpper(in.MAC), SecureBoot: in.SecureBoot.Enabled,
		KVPEnabled: true, AutomaticCheckpoint: m.st.Options.NoAutomaticCheckpoints,
		COM1: in.COM1Pipe, Notes: in.Notes, Index: m.st.Created,
	}
	template := ""
	if in.Generation == 2 && in.SecureBoot.Enabled {
		if m.st.Options.NoSecureBootTemplateID {
			template = "name"
			vm.SecureBootTemplate = in.SecureBoot.TemplateName
		} else {
			template = "id"
			vm.SecureBootTemplate = in.SecureBoot.TemplateID
		}
	}
	checkpoints := "disabled"
	if m.st.Options.NoAutomaticCheckpoints {
		checkpoints = "unsupported"
	}
	m.st.VMs[id] = vm
	out := vm.info()
	out["automatic_checkpoints"] = checkpoints
	out["secure_boot_template"] = template
	return out, nil
}

// checkCreate applies the parameter checks of the cmdlets create-vm.ps1
// calls.
func (m *Model) checkCreate(in createInput) error {
	switch {
	case in.Name == "":
		return invalidArgument("New-VM: the name is empty")
	case in.Generation != 1 && in.Generation != 2:
		return invalidArgument("New-VM: generation %d is not 1 or 2", in.Generation)
	case in.CPUs < 1:
		return invalidArgument("Set-VMProcessor: count %d is below 1", in.CPUs)
	case in.MemoryBytes <= 0 || in.MemoryBytes%(2<<20) != 0:
		return invalidArgument("New-VM: startup memory %d bytes is not a positive multiple of 2 MB", in.MemoryBytes)
	case !macPattern.MatchString(in.MAC):
		return invalidArgument("Set-VMNetworkAdapter: static MAC address %q is not 12 hex digits", in.MAC)
	case !strings.EqualFold(in.KVPServiceID, KVPIntegrationID):
		return &psError{"failed", "ObjectNotFound", fmt.Sprintf("the VM has no integration service with id %s (key-value pair exchange)", in.KVPServiceID)}
	case !strings.HasPrefix(in.COM1Pipe, `\\.\pipe\`):
		return invalidArgument("Set-VMComPort: path %q is not a named pipe", in.COM1Pipe)
	case in.VMPath == "" || in.Disk == "" || in.Base == "":
		return invalidArgument("New-VM: vm_path, disk and base must be set")
	}
	if in.DynamicMemory.Enabled && (in.DynamicMemory.MinimumBytes > in.MemoryBytes || in.DynamicMemory.MaximumBytes < in.MemoryBytes) {
		return invalidArgument("Set-VMMemory: dynamic memory needs minimum <= startup <= maximum")
	}
	if in.ISO != "" {
		if _, err := os.Stat(in.ISO); err != nil {
			return &psError{"failed", "ObjectNotFound", fmt.Sprintf("Add-VMDvdDrive: %v", err)}
		}
	}
	if in.SecureBoot.Enabled {
		if in.Generation != 2 {
			return invalidArgument("Set-VMFirmware: Generation 1 VMs have no UEFI firmware")
		}
		if m.st.Options.NoSecureBootTemplateID {
			if in.SecureBoot.TemplateName != UEFICATemplateName {
				return invalidArgument("Set-VMFirmware: unknown Secure Boot template %q", in.SecureBoot.TemplateName)
			}
		} else if !strings.EqualFold(in.SecureBoot.TemplateID, UEFICATemplateID) {
			return invalidArgument("Set-VMFirmware: unknown Secure Boot template id %q", in.SecureBoot.TemplateID)
		}
	}
	return nil
}

func (m *Model) getVM(input json.RawMessage) (any, error) {
	vm, err := m.find(input)
	if err != nil {
		return nil, err
	}
	return vm.info(), nil
}

func (m *Model) listVMs(input json.RawMessage) (any, error) {
	var in struct {
		IDs []string `json:"ids"`
	}
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	vms := []map[string]any{}
	for _, id := range in.IDs {
		if vm, ok := m.st.VMs[strings.ToLower(id)]; ok {
			vms = append(vms, vm.info())
		}
	}
	return map[string]any{"vms": vms}, nil
}

func (m *Model) startVM(input json.RawMessage) (any, error) {
	vm, err := m.find(input)
	if err != nil {
		return nil, err
	}
	if vm.State != "Off" && vm.State != "Saved" {
		return nil, wrongState("Start-VM", vm)
	}
	vm.State = "Running"
	vm.AddressPolls = 0
	return vm.info(), nil
}

func (m *Model) stopVM(input json.RawMessage) (any, error) {
	var in struct {
		ID             string `json:"id"`
		Force          bool   `json:"force"`
		TimeoutSeconds int    `json:"timeout_seconds"`
	}
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	vm, err := m.lookup(in.ID)
	if err != nil {
		return nil, err
	}
	if in.TimeoutSeconds < 1 && !in.Force {
		return nil, invalidArgument("Wait-Job: timeout %d is below 1 second", in.TimeoutSeconds)
	}
	reason := ""
	switch {
	case in.Force:
		reason = "a forced stop was requested"
	case vm.State == "Running" && !m.st.Options.GuestIgnoresShutdown:
		vm.State = "Off"
	case vm.State == "Running":
		reason = fmt.Sprintf("the guest did not shut down within %d seconds", in.TimeoutSeconds)
	case vm.State == "Off":
	default:
		reason = fmt.Sprintf("the shutdown request failed: the VM is %s", vm.State)
	}
	forced := false
	if vm.State != "Off" {
		if vm.State != "Running" && vm.State != "Paused" {
			return nil, wrongState("Stop-VM -TurnOff", vm)
		}
		vm.State = "Off"
		forced = true
	}
	return map[string]any{"forced": forced, "reason": reason, "vm": vm.info()}, nil
}

func (m *Model) suspendVM(input json.RawMessage) (any, error) {
	vm, err := m.find(input)
	if err != nil {
		return nil, err
	}
	if vm.State != "Running" {
		return nil, wrongState("Suspend-VM", vm)
	}
	vm.State = "Paused"
	return vm.info(), nil
}

func (m *Model) resumeVM(input json.RawMessage) (any, error) {
	vm, err := m.find(input)
	if err != nil {
		return nil, err
	}
	if vm.State != "Paused" {
		return nil, wrongState("Resume-VM", vm)
	}
	vm.State = "Running"
	return vm.info(), nil
}

func (m *Model) discardSavedState(input json.RawMessage) (any, error) {
	vm, err := m.find(input)
	if err != nil {
		return nil, err
	}
	if vm.State != "Saved" {
		return nil, wrongState("Remove-VMSavedState", vm)
	}
	vm.State = "Off"
	return vm.info(), nil
}

func (m *Model) deleteVM(input json.RawMessage) (any, error) {
	var in struct {
		ID    string `json:"id"`
		Force bool   `json:"force"`
	}
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	vm, err := m.lookup(in.ID)
	if err != nil {
		return nil, err
	}
	turnedOff := false
	if vm.State != "Off" && vm.State != "Saved" {
		if !in.Force {
			return nil, &psError{"invalid_state", "InvalidOperation", fmt.Sprintf("the VM is %s; stop it before deleting it", vm.State)}
		}
		vm.State = "Off"
		turnedOff = true
	}
	// Remove-VM deletes the configuration but keeps the disks and the
	// directories it made.
	if err := os.Remove(vm.ConfigFile); err != nil && !os.IsNotExist(err) {
		return nil, &psError{"failed", "WriteError", fmt.Sprintf("Remove-VM: %v", err)}
	}
	delete(m.st.VMs, strings.ToLower(vm.ID))
	return map[string]any{"disks": []string{vm.Disk}, "turned_off": turnedOff}, nil
}

func (m *Model) swapISO(input json.RawMessage) (any, error) {
	var in struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	}
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	vm, err := m.lookup(in.ID)
	if err != nil {
		return nil, err
	}
	if in.Path != "" {
		if _, err := os.Stat(in.Path); err != nil {
			return nil, &psError{"failed", "ObjectNotFound", fmt.Sprintf("Set-VMDvdDrive: %v", err)}
		}
	}
	vm.HasDVD = true
	vm.ISO = in.Path
	return vm.info(), nil
}

func (m *Model) vmAddresses(input json.RawMessage) (any, error) {
	var in struct {
		ID           string `json:"id"`
		KVPServiceID string `json:"kvp_service_id"`
	}
	if err := decode(input, &in); err != nil {
		return nil, err
	}
	vm, err := m.lookup(in.ID)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(in.KVPServiceID, KVPIntegrationID) {
		return nil, invalidArgument("vm-addresses: kvp_service_id %q is not key-value pair exchange", in.KVPServiceID)
	}
	up := vm.State == "Running" || vm.State == "Paused"
	addresses := []string{}
	kvpStatus := "OK"
	if m.st.Options.NoGuestKVP {
		kvpStatus = "No Contact"
	}
	if up && !m.st.Options.NoGuestKVP {
		vm.AddressPolls++
		if vm.AddressPolls > m.st.Options.EmptyAddressPolls {
			// Hyper-V lists link-local addresses too, and not always last.
			n := vm.Index%200 + 10
			addresses = []string{
				fmt.Sprintf("fe80::215:5dff:fe00:%x", n),
				fmt.Sprintf("192.0.2.%d", n),
				fmt.Sprintf("2001:db8::%x", n),
			}
		}
	}
	neighbors := []map[string]string{}
	if up && len(addresses) == 0 && m.st.Options.NeighborIP != "" {
		neighbors = append(neighbors,
			map[string]string{"ip": "192.0.2.254", "state": "Unreachable"},
			map[string]string{"ip": m.st.Options.NeighborIP, "state": "Reachable"})
	}
	return map[string]any{
		"state": vm.State, "mac": vm.MAC, "kvp_addresses": addresses, "neighbors": neighbors,
		"kvp_enabled": vm.KVPEnabled, "kvp_status": kvpStatus,
	}, nil
}
