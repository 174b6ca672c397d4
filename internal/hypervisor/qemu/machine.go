package qemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// File names inside an instance directory. Delete removes exactly these
// files (and the serial log and QMP socket, wherever they are).
const (
	stateFileName = "driver.json"
	diskFileName  = "disk.qcow2"
	varsFileName  = "efivars.fd"
	pidFileName   = "qemu.pid"
	qmpFileName   = "qmp.sock"
	logFileName   = "qemu.log"
	serialDefault = "serial.log"
)

// stateVersion is the format version of driver.json.
const stateVersion = 1

// machine is the driver's record of one VM, stored as driver.json in the
// instance directory. Start builds the QEMU command line from it, so a VM
// restarts with the same disk, ISO, MAC address and, while it stays free,
// the same SSH port.
type machine struct {
	Version     int              `json:"version"`
	Name        string           `json:"name"`
	Dir         string           `json:"dir"`
	CPUs        int              `json:"cpus"`
	MemoryBytes uint64           `json:"memory_bytes"`
	BaseImage   hypervisor.Image `json:"base_image"`
	Disk        string           `json:"disk"`
	Boot        hypervisor.Boot  `json:"boot"`
	// UEFICode and UEFIVars are the firmware image and this VM's copy of the
	// variable store, set for FirmwareUEFI without a kernel.
	UEFICode string `json:"uefi_code,omitempty"`
	UEFIVars string `json:"uefi_vars,omitempty"`
	ISO      string `json:"iso,omitempty"`
	Restrict bool   `json:"restrict"`
	MAC      string `json:"mac"`
	// SSHHostPort is the forwarded port on 127.0.0.1. SSHPortFixed is true
	// when the spec chose it, so Start must not move it to another port.
	SSHHostPort  int    `json:"ssh_host_port"`
	SSHPortFixed bool   `json:"ssh_port_fixed"`
	SSHGuestPort int    `json:"ssh_guest_port"`
	SerialLog    string `json:"serial_log"`
	QMPSocket    string `json:"qmp_socket"`
	PIDFile      string `json:"pid_file"`
	LogFile      string `json:"log_file"`
	// LastArgs is the command line of the last start, kept for debugging.
	LastArgs  []string  `json:"last_args,omitempty"`
	LastAccel string    `json:"last_accel,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func statePath(dir string) string { return filepath.Join(dir, stateFileName) }

// loadMachine reads driver.json from dir. A missing file returns an error
// matching fs.ErrNotExist.
func loadMachine(dir string) (*machine, error) {
	data, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, err
	}
	var m machine
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w; the file is damaged, delete the VM with --force or restore the file", statePath(dir), err)
	}
	if m.Version != stateVersion {
		return nil, fmt.Errorf("read %s: format version %d is not %d; this vmgenie cannot manage the VM", statePath(dir), m.Version, stateVersion)
	}
	if m.Dir != dir {
		return nil, fmt.Errorf("read %s: it records directory %q; move the instance back there", statePath(dir), m.Dir)
	}
	return &m, nil
}

func (m *machine) save() error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode VM state of %q: %w", m.Name, err)
	}
	return atomicfile.WriteFile(statePath(m.Dir), append(data, '\n'), 0o600)
}

// files returns the files the driver makes for m, for Delete.
func (m *machine) files() []string {
	files := []string{m.Disk, m.PIDFile, m.QMPSocket, m.LogFile, m.SerialLog}
	if m.UEFIVars != "" {
		files = append(files, m.UEFIVars)
	}
	return append(files, statePath(m.Dir))
}

// removeFiles removes m's files and then the instance directory if it is
// empty. Files that are already gone are no error.
func (m *machine) removeFiles() error {
	var errs []error
	for _, f := range m.files() {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(m.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !dirNotEmpty(m.Dir) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func dirNotEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}

func (m *machine) vm(state hypervisor.State) hypervisor.VM {
	return hypervisor.VM{
		ID:          m.Name,
		Name:        m.Name,
		Dir:         m.Dir,
		State:       state,
		CPUs:        m.CPUs,
		MemoryBytes: m.MemoryBytes,
		ISO:         m.ISO,
	}
}
