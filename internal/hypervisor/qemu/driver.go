package qemu

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// driverName is the name the driver reports and puts in its errors.
const driverName = "qemu"

// Config configures a Driver. Only Root is required.
type Config struct {
	// Root is the absolute directory that contains the instance directories.
	// Every Spec.Dir must be a direct child of it; List scans it.
	Root string
	// Accel is the accelerator: AccelAuto (the default), AccelKVM, AccelTCG
	// or AccelHVF.
	Accel Accel
	// Binary is the QEMU system emulator; empty means qemu-system-x86_64 or
	// qemu-system-aarch64 from PATH, matching the host.
	Binary string
	// QEMUImg is the qemu-img binary; empty means qemu-img from PATH.
	QEMUImg string
	// UEFICode and UEFIVars override the UEFI firmware and variable store
	// template. Empty means the firmware found through QEMU's firmware
	// descriptors or the usual OVMF paths.
	UEFICode string
	UEFIVars string
	// RuntimeDir contains the QMP sockets of instance directories whose path
	// is too long for a Unix socket. Empty means $XDG_RUNTIME_DIR/vmgenie,
	// or vmgenie-<uid> in the system temporary directory.
	RuntimeDir string
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Driver runs VMs as detached QEMU processes. It implements
// hypervisor.Driver.
type Driver struct {
	cfg      Config
	platform platform
	log      *slog.Logger

	// probe gathers the host facts for the accelerator choice; tests
	// replace it.
	probe     func() hostProbe
	accelOnce sync.Once
	accel     accelChoice
	accelErr  error

	createMu sync.Mutex             // serializes Create, so two VMs cannot take one name
	mu       sync.Mutex             // guards the maps below
	opLocks  map[string]*sync.Mutex // per VM: one lifecycle operation at a time
	qmpLocks map[string]*sync.Mutex // per VM: one QMP session at a time
	stopping map[string]bool        // VMs whose Stop is in progress
}

var _ hypervisor.Driver = (*Driver)(nil)

// New returns a driver for the VMs under cfg.Root. It checks the
// configuration but runs nothing; a missing QEMU shows up at Create or Start.
func New(cfg Config) (*Driver, error) {
	if cfg.Root == "" || !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("qemu driver root %q is not an absolute path; set it to the instances directory", cfg.Root)
	}
	cfg.Root = filepath.Clean(cfg.Root)

	switch cfg.Accel {
	case "":
		cfg.Accel = AccelAuto
	case AccelAuto, AccelKVM, AccelTCG, AccelHVF:
	default:
		return nil, fmt.Errorf("qemu accel %q is unknown; use auto, kvm, hvf or tcg", cfg.Accel)
	}

	p, err := platformFor(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	if cfg.Binary == "" {
		cfg.Binary = p.binary
	}
	if cfg.QEMUImg == "" {
		cfg.QEMUImg = "qemu-img"
	}

	if (cfg.UEFICode == "") != (cfg.UEFIVars == "") {
		return nil, fmt.Errorf("qemu UEFI firmware code %q and variable store %q must be set together", cfg.UEFICode, cfg.UEFIVars)
	}
	if cfg.RuntimeDir == "" {
		cfg.RuntimeDir = defaultRuntimeDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	return &Driver{
		cfg:      cfg,
		platform: p,
		log:      cfg.Logger.With("driver", driverName),
		probe:    probeHost,
		opLocks:  map[string]*sync.Mutex{},
		qmpLocks: map[string]*sync.Mutex{},
		stopping: map[string]bool{},
	}, nil
}

func defaultRuntimeDir() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "vmgenie")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("vmgenie-%d", os.Getuid()))
}

// Name returns "qemu".
func (d *Driver) Name() string { return driverName }

// Capabilities reports the QEMU driver's features. Secure Boot is missing:
// it needs OVMF's Secure Boot build with SMM, which the driver does not set up.
func (d *Driver) Capabilities() hypervisor.Capabilities {
	return hypervisor.Capabilities{
		Pause:            true,
		GracefulStop:     true,
		DirectKernelBoot: true,
		SwapISO:          true,
		BIOS:             d.platform.bios,
		UEFI:             true,
		SecureBoot:       false,
		Addressing:       hypervisor.AddressPortForward,
		DiskFormats:      []string{"qcow2", "raw", "vmdk", "vhdx", "vpc"},
	}
}

// lockOp takes the lifecycle lock of the VM id and returns its unlock.
func (d *Driver) lockOp(id string) func() { return lockIn(&d.mu, d.opLocks, id) }

// lockQMP takes the QMP session lock of the VM id and returns its unlock.
func (d *Driver) lockQMP(id string) func() { return lockIn(&d.mu, d.qmpLocks, id) }

func lockIn(mu *sync.Mutex, locks map[string]*sync.Mutex, id string) func() {
	mu.Lock()
	l, ok := locks[id]
	if !ok {
		l = &sync.Mutex{}
		locks[id] = l
	}
	mu.Unlock()
	l.Lock()
	return l.Unlock
}

// find loads the VM whose name is id. Ids that are not plain directory
// names are not found, so an id cannot point outside Root.
func (d *Driver) find(op, id string) (*machine, error) {
	if id == "" || id == "." || id == ".." || filepath.Base(id) != id || filepath.IsAbs(id) {
		return nil, hypervisor.NotFound(driverName, op, id)
	}
	m, err := loadMachine(filepath.Join(d.cfg.Root, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, hypervisor.NotFound(driverName, op, id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s %q: %w", driverName, op, id, err)
	}
	if m.Name != id {
		return nil, hypervisor.NotFound(driverName, op, id)
	}
	return m, nil
}

// machines returns every VM under Root. Directories without driver.json
// are skipped; damaged ones are logged and skipped.
func (d *Driver) machines() ([]*machine, error) {
	entries, err := os.ReadDir(d.cfg.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list VMs in %s: %w", d.cfg.Root, err)
	}
	var ms []*machine
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m, err := loadMachine(filepath.Join(d.cfg.Root, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			d.log.Warn("skipping instance directory", "dir", filepath.Join(d.cfg.Root, e.Name()), "err", err)
			continue
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// Create makes the VM's overlay disk and driver.json in spec.Dir. On any
// failure it removes what it made.
func (d *Driver) Create(ctx context.Context, spec hypervisor.Spec) (vm hypervisor.VM, err error) {
	if err := spec.Validate(); err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	if err := d.checkSpec(spec); err != nil {
		return hypervisor.VM{}, err
	}

	d.createMu.Lock()
	defer d.createMu.Unlock()

	existing, err := d.machines()
	if err != nil {
		return hypervisor.VM{}, err
	}
	usedPorts := map[int]bool{}
	for _, m := range existing {
		if m.Name == spec.Name {
			return hypervisor.VM{}, hypervisor.Conflict(driverName, "create", spec.Name, "a VM with this name exists in "+m.Dir)
		}
		usedPorts[m.SSHHostPort] = true
	}
	if _, err := os.Stat(statePath(spec.Dir)); err == nil {
		return hypervisor.VM{}, hypervisor.Conflict(driverName, "create", spec.Name, "directory "+spec.Dir+" already holds a VM")
	}

	m, err := d.newMachine(spec, usedPorts)
	if err != nil {
		return hypervisor.VM{}, err
	}

	if err := os.MkdirAll(d.cfg.Root, 0o700); err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: create the instances directory: %w", driverName, spec.Name, err)
	}
	madeDir, err := makeDir(spec.Dir)
	if err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if cleanErr := m.removeFiles(); cleanErr != nil {
			d.log.Error("cleanup after failed create", "vm", spec.Name, "err", cleanErr)
		}
		if madeDir {
			os.Remove(spec.Dir)
		}
	}()

	if err := d.makeDisks(ctx, m, spec); err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	if err := m.save(); err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	d.log.Info("created VM", "vm", m.Name, "dir", m.Dir, "disk", m.Disk, "base", m.BaseImage.Path, "ssh_port", m.SSHHostPort)
	return m.vm(hypervisor.StateOff), nil
}

// checkSpec checks what the QEMU driver adds to Spec.Validate.
func (d *Driver) checkSpec(spec hypervisor.Spec) error {
	if filepath.Dir(filepath.Clean(spec.Dir)) != d.cfg.Root {
		return fmt.Errorf("%s: create %q: %w: dir %q is not a direct child of the driver root %s; create instance directories there",
			driverName, spec.Name, hypervisor.ErrInvalidSpec, spec.Dir, d.cfg.Root)
	}
	if filepath.Base(spec.Dir) != spec.Name {
		return fmt.Errorf("%s: create %q: %w: dir %q must be named after the VM, %s",
			driverName, spec.Name, hypervisor.ErrInvalidSpec, spec.Dir, filepath.Join(d.cfg.Root, spec.Name))
	}
	if spec.Boot.SecureBoot {
		return hypervisor.Unsupported(driverName, "create", spec.Name, "UEFI Secure Boot")
	}
	if spec.Boot.Kernel == "" && spec.Boot.Firmware != hypervisor.FirmwareUEFI && !d.platform.bios {
		return hypervisor.Unsupported(driverName, "create", spec.Name, "BIOS boot on "+d.platform.arch)
	}
	if spec.Network.Switch != "" {
		d.log.Info("ignoring network switch: QEMU uses user networking", "vm", spec.Name, "switch", spec.Network.Switch)
	}
	for _, f := range []struct{ what, path string }{
		{"base image", spec.Image.Path}, {"kernel", spec.Boot.Kernel},
		{"initrd", spec.Boot.Initrd}, {"seed ISO", spec.SeedISO},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: create %q: %w: %s %s: %w", driverName, spec.Name, hypervisor.ErrInvalidSpec, f.what, f.path, err)
		}
	}
	return nil
}

// newMachine builds the driver's record for spec. It writes nothing in the
// instance directory; picking the SSH port binds and closes a socket.
func (d *Driver) newMachine(spec hypervisor.Spec, usedPorts map[int]bool) (*machine, error) {
	dir := filepath.Clean(spec.Dir)
	m := &machine{
		Version:      stateVersion,
		Name:         spec.Name,
		Dir:          dir,
		CPUs:         spec.CPUs,
		MemoryBytes:  spec.MemoryBytes,
		BaseImage:    spec.Image,
		Disk:         filepath.Join(dir, diskFileName),
		Boot:         spec.Boot,
		ISO:          spec.SeedISO,
		Restrict:     spec.Network.Restrict,
		MAC:          spec.Network.MAC,
		SSHHostPort:  spec.SSH.HostPort,
		SSHPortFixed: spec.SSH.HostPort != 0,
		SSHGuestPort: spec.SSH.GuestPort,
		SerialLog:    spec.SerialLog,
		PIDFile:      filepath.Join(dir, pidFileName),
		LogFile:      filepath.Join(dir, logFileName),
		CreatedAt:    time.Now().UTC(),
	}
	if m.Boot.Firmware == "" {
		m.Boot.Firmware = hypervisor.FirmwareBIOS
	}
	if m.SerialLog == "" {
		m.SerialLog = filepath.Join(dir, serialDefault)
	}
	if m.SSHGuestPort == 0 {
		m.SSHGuestPort = 22
	}
	if m.MAC == "" {
		mac, err := randomMAC()
		if err != nil {
			return nil, fmt.Errorf("%s: create %q: generate MAC address: %w", driverName, spec.Name, err)
		}
		m.MAC = mac
	}
	if m.SSHHostPort == 0 {
		port, err := freePort(usedPorts)
		if err != nil {
			return nil, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
		}
		m.SSHHostPort = port
	}
	sock, err := d.socketPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	m.QMPSocket = sock
	return m, nil
}

// makeDisks creates the overlay and, for UEFI firmware boot, the VM's copy
// of the UEFI variable store.
func (d *Driver) makeDisks(ctx context.Context, m *machine, spec hypervisor.Spec) error {
	info, err := inspectImage(ctx, d.cfg.QEMUImg, spec.Image.Path)
	if err != nil {
		return fmt.Errorf("read base image: %w", err)
	}
	if info.Format != spec.Image.Format {
		return fmt.Errorf("%w: base image %s is %s, not %s as given; import it with format %s",
			hypervisor.ErrInvalidSpec, spec.Image.Path, info.Format, spec.Image.Format, info.Format)
	}
	if spec.DiskBytes != 0 && spec.DiskBytes < info.VirtualSize {
		return fmt.Errorf("%w: disk size %d bytes is below the base image's %d bytes; give at least the base size, or 0 to keep it",
			hypervisor.ErrInvalidSpec, spec.DiskBytes, info.VirtualSize)
	}
	size := spec.DiskBytes
	if size == info.VirtualSize {
		size = 0
	}
	if err := createOverlay(ctx, d.cfg.QEMUImg, spec.Image.Path, spec.Image.Format, m.Disk, size); err != nil {
		return fmt.Errorf("create overlay disk: %w", err)
	}

	if m.Boot.Firmware != hypervisor.FirmwareUEFI || m.Boot.Kernel != "" {
		return nil
	}
	fw := uefiFirmware{Code: d.cfg.UEFICode, Vars: d.cfg.UEFIVars}
	if fw.Code == "" {
		binary, _ := exec.LookPath(d.cfg.Binary)
		fw, err = findUEFI(firmwareDescriptorDirs(binary), d.platform)
		if err != nil {
			return err
		}
	}
	m.UEFICode = fw.Code
	m.UEFIVars = filepath.Join(m.Dir, varsFileName)
	if err := copyFile(fw.Vars, m.UEFIVars); err != nil {
		return fmt.Errorf("copy UEFI variable store: %w", err)
	}
	return nil
}

// makeDir creates dir with mode 0700 unless it exists, and reports whether
// it created it.
func makeDir(dir string) (bool, error) {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("instance path %s is a file, not a directory", dir)
		}
		return false, nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return false, fmt.Errorf("create instance directory: %w", err)
	}
	return true, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// randomMAC returns a MAC address with QEMU's locally administered prefix
// 52:54:00 and three random octets.
func randomMAC() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return net.HardwareAddr{0x52, 0x54, 0x00, b[0], b[1], b[2]}.String(), nil
}

// maxSocketPath is the longest Unix socket path that works on Linux (107
// bytes) and macOS (103 bytes).
const maxSocketPath = 103

// socketPath returns where the VM in dir gets its QMP socket: qmp.sock in
// dir, or a name derived from dir in the runtime directory when that path
// is too long for a Unix socket.
func (d *Driver) socketPath(dir string) (string, error) {
	sock := filepath.Join(dir, qmpFileName)
	if len(sock) <= maxSocketPath {
		return sock, nil
	}
	if err := ensurePrivateDir(d.cfg.RuntimeDir); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(dir))
	sock = filepath.Join(d.cfg.RuntimeDir, hex.EncodeToString(sum[:8])+".qmp")
	if len(sock) > maxSocketPath {
		return "", fmt.Errorf("QMP socket path %s is longer than %d bytes; set a shorter runtime directory", sock, maxSocketPath)
	}
	return sock, nil
}

// Inspect returns the VM's description with its current state and, while
// QEMU runs, the medium QEMU reports in the DVD drive.
func (d *Driver) Inspect(ctx context.Context, id string) (hypervisor.VM, error) {
	m, err := d.find("inspect", id)
	if err != nil {
		return hypervisor.VM{}, err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return hypervisor.VM{}, err
	}
	vm := m.vm(st)
	if st == hypervisor.StateRunning || st == hypervisor.StatePaused {
		iso, err := qmpCall(ctx, d, m, func(mon *monitor) (string, error) {
			return mon.insertedMedium(ctx, cdromDeviceID)
		})
		if err != nil {
			return hypervisor.VM{}, fmt.Errorf("%s: inspect %q: %w", driverName, id, err)
		}
		vm.ISO = iso
	}
	return vm, nil
}

// List returns every VM under Root with its current state.
func (d *Driver) List(ctx context.Context) ([]hypervisor.VM, error) {
	ms, err := d.machines()
	if err != nil {
		return nil, err
	}
	vms := make([]hypervisor.VM, 0, len(ms))
	for _, m := range ms {
		st, err := d.state(ctx, m)
		if err != nil {
			d.log.Warn("cannot read VM state", "vm", m.Name, "err", err)
			st = hypervisor.StateUnknown
		}
		vms = append(vms, m.vm(st))
	}
	return vms, nil
}

// Delete stops the VM when opts.Force is set, then removes its files and,
// when left empty, its directory.
func (d *Driver) Delete(ctx context.Context, id string, opts hypervisor.DeleteOptions) error {
	unlock := d.lockOp(id)
	defer unlock()
	m, err := d.find("delete", id)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return err
	}
	if st != hypervisor.StateOff {
		if !opts.Force {
			return hypervisor.InvalidState(driverName, "delete", id, st, "stop it first, or delete with --force")
		}
		if err := d.turnOff(ctx, m); err != nil {
			return fmt.Errorf("%s: delete %q: %w", driverName, id, err)
		}
	}
	if err := m.removeFiles(); err != nil {
		return fmt.Errorf("%s: delete %q: remove files: %w", driverName, id, err)
	}
	d.log.Info("deleted VM", "vm", id, "dir", m.Dir)
	return nil
}
