// Package hypervisor defines the interface that every vmgenie hypervisor
// driver implements, and the types shared by drivers and their callers.
//
// The interface is shaped by the two backends vmgenie targets: QEMU (one
// process per VM, controlled over QMP) and Hyper-V (VMs addressed by GUID,
// controlled by the New-VM, Start-VM, Stop-VM, Suspend-VM, Resume-VM,
// Remove-VM, Set-VMDvdDrive and Get-VMNetworkAdapter cmdlets). Operations
// take a VM id: the name for QEMU, the VM's GUID for Hyper-V. Create returns
// the id.
//
// State rules, the same for every driver (docs/drivers.md has the table):
//   - An operation that finds the VM already in its target state succeeds and
//     changes nothing (Start on Running, Stop on Off, Pause on Paused, Resume
//     on Running).
//   - Pause needs Running, Resume needs Paused, Start on Paused is rejected:
//     each violation is ErrInvalidState.
//   - Delete of a VM that is not Off or Saved is ErrInvalidState unless
//     DeleteOptions.Force is set, as Hyper-V's Remove-VM rejects a running VM.
package hypervisor

import (
	"context"
	"net"
	"strconv"
	"time"
)

// Driver controls the VMs of one hypervisor host. Implementations are safe
// for concurrent use. Every id-taking method returns an error matching
// ErrNotFound when no VM has that id.
type Driver interface {
	// Name returns the driver's short name, such as "qemu" or "hyperv".
	Name() string

	// Capabilities reports which optional features the driver supports.
	// Methods for a missing feature return an error matching ErrUnsupported.
	Capabilities() Capabilities

	// Create defines a VM from spec and makes its disk, leaving it Off.
	// A VM with the same name is ErrConflict; an existing VM is never adopted.
	Create(ctx context.Context, spec Spec) (VM, error)

	// Start boots the VM. It returns once the hypervisor runs the VM, not
	// when the guest has booted.
	Start(ctx context.Context, id string) error

	// Stop shuts the VM down: gracefully within opts.Timeout, then by turning
	// it off. With opts.Force it turns the VM off at once. A paused VM is
	// resumed first so that its guest can shut down.
	Stop(ctx context.Context, id string, opts StopOptions) (StopResult, error)

	// Pause freezes a running VM in memory (QMP stop, Suspend-VM).
	Pause(ctx context.Context, id string) error

	// Resume continues a paused VM (QMP cont, Resume-VM).
	Resume(ctx context.Context, id string) error

	// Delete removes the VM, its process and every file the driver made for
	// it. Files that others put in the instance directory stay, and the
	// directory is removed only when it is left empty.
	Delete(ctx context.Context, id string, opts DeleteOptions) error

	// State returns the VM's current state as the hypervisor reports it.
	State(ctx context.Context, id string) (State, error)

	// Inspect returns the VM's description and current state.
	Inspect(ctx context.Context, id string) (VM, error)

	// Addresses returns the endpoints where the guest's SSH server can be
	// reached, best first. The VM must be Running or Paused, otherwise the
	// error matches ErrInvalidState. An empty list with a nil error means the
	// guest has not reported an address yet, so the caller polls.
	Addresses(ctx context.Context, id string) ([]Endpoint, error)

	// SwapISO puts the ISO image at path into the VM's DVD drive, replacing
	// the medium there, in any state. An empty path ejects the medium. The
	// change lasts across restarts.
	SwapISO(ctx context.Context, id, path string) error

	// List returns every VM the driver manages, in no particular order.
	List(ctx context.Context) ([]VM, error)
}

// Capabilities lists the optional features of a driver.
type Capabilities struct {
	Pause            bool // Pause and Resume work.
	GracefulStop     bool // Stop can ask the guest to shut down (ACPI power button).
	DirectKernelBoot bool // Boot.Kernel, Boot.Initrd and Boot.Cmdline are honoured.
	SwapISO          bool // SwapISO works, also while the VM runs.
	BIOS             bool // FirmwareBIOS boots.
	UEFI             bool // FirmwareUEFI boots.
	SecureBoot       bool // Boot.SecureBoot can be turned on.

	// Addressing is the way Addresses reaches the guest.
	Addressing Addressing

	// DiskFormats lists the base image formats Create accepts, such as
	// "qcow2", "raw" or "vhdx".
	DiskFormats []string
}

// Addressing is the way a driver makes a guest reachable.
type Addressing string

const (
	// AddressPortForward means the host forwards a port on a loopback
	// address to the guest's SSH port (QEMU user networking).
	AddressPortForward Addressing = "port-forward"
	// AddressRoutable means the guest has its own address on a network the
	// host can route to (a Hyper-V switch).
	AddressRoutable Addressing = "routable"
)

// State is a VM's run state.
type State string

const (
	StateOff      State = "off"      // Not running; the disk keeps its data.
	StateStarting State = "starting" // The hypervisor is bringing the VM up.
	StateRunning  State = "running"  // The guest CPUs run (the guest may still be booting).
	StatePaused   State = "paused"   // Frozen in memory by Pause.
	StateSaved    State = "saved"    // Memory saved to disk (Hyper-V Save-VM).
	StateStopping State = "stopping" // Shutting down.
	StateFailed   State = "failed"   // Halted by an error, such as a KVM emulation failure or a guest panic.
	StateUnknown  State = "unknown"  // The hypervisor reported a state this package does not model.
)

// VM describes one VM.
type VM struct {
	ID    string `json:"id"`   // Identifier for the other methods: the name for QEMU, a GUID for Hyper-V.
	Name  string `json:"name"` // Name given in Spec.Name.
	Dir   string `json:"dir"`  // Instance directory given in Spec.Dir.
	State State  `json:"state"`

	CPUs        int    `json:"cpus"`
	MemoryBytes uint64 `json:"memory_bytes"`

	// ISO is the path of the medium in the DVD drive, empty when it has none.
	ISO string `json:"iso,omitempty"`
}

// Spec is everything needed to create a VM.
type Spec struct {
	// Name is the VM's name, unique among the driver's VMs.
	Name string
	// Dir is the absolute path of the instance directory. The driver keeps
	// its disk and state files there and creates the directory if needed.
	Dir string

	CPUs        int
	MemoryBytes uint64
	// DiskBytes is the disk's virtual size. Zero keeps the base image's
	// size; a value below it is rejected.
	DiskBytes uint64

	// Image is the base image. The driver never writes to it: the VM's disk
	// is an overlay (qcow2) or differencing disk (VHDX) on top of it.
	Image Image

	Boot Boot

	// SeedISO is the path of the ISO image attached as a DVD (CD-ROM) drive,
	// usually the cloud-init seed. Empty leaves the drive empty.
	SeedISO string

	Network Network

	// SerialLog is the file that receives the serial console output.
	// Empty means serial.log in Dir. Drivers that cannot capture the serial
	// console ignore it.
	SerialLog string

	// SSH sets the port forward for drivers with AddressPortForward.
	SSH SSHForward
}

// Image is a disk image file.
type Image struct {
	Path   string // Absolute path.
	Format string // Format name as qemu-img spells it: "qcow2", "raw", "vhdx", "vpc".
}

// Firmware selects how the VM boots when no kernel is given.
type Firmware string

const (
	FirmwareBIOS Firmware = "bios" // SeaBIOS on QEMU, Generation 1 on Hyper-V.
	FirmwareUEFI Firmware = "uefi" // OVMF on QEMU, Generation 2 on Hyper-V.
)

// Boot selects firmware boot or direct kernel boot.
type Boot struct {
	// Firmware is the firmware type; empty means FirmwareBIOS.
	Firmware Firmware
	// SecureBoot turns on UEFI Secure Boot. It needs FirmwareUEFI.
	SecureBoot bool

	// Kernel, when set, boots this kernel directly instead of the disk's
	// boot loader, with Initrd (optional) and Cmdline as its command line.
	Kernel  string
	Initrd  string
	Cmdline string
}

// Network sets the VM's network adapter.
type Network struct {
	// Restrict blocks all traffic from the guest to the host's networks.
	// Port forwards to the guest still work (QEMU user networking
	// restrict=on). Drivers that cannot enforce it reject it.
	Restrict bool
	// Switch names the virtual switch (Hyper-V). Empty means the driver's
	// default. QEMU ignores it.
	Switch string
	// MAC is the adapter's MAC address, such as "52:54:00:12:34:56". Empty
	// means the driver generates one at Create and keeps it.
	MAC string
}

// SSHForward sets the host side of the SSH port forward.
type SSHForward struct {
	// HostPort is the port on 127.0.0.1. Zero means the driver picks a free
	// port at Create and keeps it while it stays free.
	HostPort int
	// GuestPort is the guest's SSH port; zero means 22.
	GuestPort int
}

// StopOptions tunes Stop.
type StopOptions struct {
	// Force turns the VM off without asking the guest (Stop-VM -TurnOff,
	// QMP quit). Data the guest has not written to disk is lost.
	Force bool
	// Timeout bounds the graceful shutdown before the VM is turned off.
	// Zero means DefaultStopTimeout.
	Timeout time.Duration
}

// DefaultStopTimeout is the graceful shutdown time Stop allows when
// StopOptions.Timeout is zero.
const DefaultStopTimeout = 2 * time.Minute

// StopResult reports how Stop ended the VM.
type StopResult struct {
	// Forced is true when the VM was turned off, either because
	// StopOptions.Force was set or because the guest did not shut down in time.
	Forced bool
}

// DeleteOptions tunes Delete.
type DeleteOptions struct {
	// Force turns a running or paused VM off before deleting it, instead of
	// returning ErrInvalidState.
	Force bool
}

// Endpoint is a TCP address where the guest's SSH server can be reached.
type Endpoint struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// String returns host:port, with brackets around an IPv6 host.
func (e Endpoint) String() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}
