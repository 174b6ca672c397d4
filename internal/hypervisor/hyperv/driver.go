package hyperv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// driverName is the name the driver reports and puts in its errors.
const driverName = "hyperv"

// Well-known Hyper-V ids. Names are translated on non-English hosts, so
// the driver matches these objects by id.
const (
	// DefaultSwitchID is the id of the Default Switch, which Windows 10
	// 1709 and later create with NAT and DHCP for VMs.
	DefaultSwitchID = "c08cb7b8-9b3c-408e-8e30-5e16a3aeb444"
	// UEFICATemplateID is the id of the Secure Boot template "Microsoft
	// UEFI Certificate Authority", which accepts Linux shims.
	UEFICATemplateID = "272e7447-90a4-4563-a4b9-8e4ab00526ce"
	// UEFICATemplateName is the same template's name, for hosts whose
	// Set-VMFirmware lacks -SecureBootTemplateId.
	UEFICATemplateName = "MicrosoftUEFICertificateAuthority"
	// KVPIntegrationServiceID identifies the Key-Value Pair Exchange
	// integration service. Source: the key_value_pair_exchange entry of
	// INTEGRATION_SERVICES_MAP in hashicorp/vagrant,
	// plugins/providers/hyperv/driver.rb, which maps the translated service
	// names to these ids. The scripts match it after the last backslash of
	// the service's Id.
	// NOTE: that Id layout has not been checked on a host; if it differs,
	// Create fails with an error that names this id.
	KVPIntegrationServiceID = "2a34b1c2-fd73-4043-8a5b-dd2159bc743f"
)

// ErrNotWindows marks a Hyper-V operation on a host that is not Windows.
var ErrNotWindows = errors.New("Hyper-V runs only on Windows")

// Files the driver keeps in an instance directory.
const (
	recordFileName = "hyperv.json"
	vmDirName      = "hyperv"
	serialDefault  = "serial.log"
	recordVersion  = 1
)

// Config configures a Driver. Root and Host are required.
type Config struct {
	// Root is the absolute directory that contains the instance
	// directories. Every Spec.Dir must be a direct child of it.
	Root string
	// Host runs the PowerShell scripts. NewPowerShellHost returns one for
	// powershell.exe on Windows; tests pass one on the hypervtest double.
	Host *pshost.Host
	// DefaultSwitch is the switch name or id used when Spec.Network.Switch
	// is empty. Empty means the Default Switch, found by DefaultSwitchID.
	DefaultSwitch string
	// DynamicMemory turns on dynamic memory, with Spec.MemoryBytes as the
	// startup amount. Nil keeps memory static.
	DynamicMemory *DynamicMemory
	// SerialDial opens the client end of a VM's COM1 named pipe. Nil means
	// the platform's default: go-winio on Windows, and no serial capture
	// elsewhere.
	SerialDial DialFunc
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DynamicMemory bounds dynamic memory. Zero fields take defaults: a
// minimum of 512 MiB (or the startup amount, if smaller) and a maximum
// equal to the startup amount.
type DynamicMemory struct {
	MinimumBytes uint64
	MaximumBytes uint64
}

// Driver manages Hyper-V VMs. It implements hypervisor.Driver.
type Driver struct {
	cfg    Config
	host   *pshost.Host
	log    *slog.Logger
	serial *serialCapture

	mu      sync.Mutex             // guards opLocks and serializes Create
	opLocks map[string]*sync.Mutex // per VM id: one lifecycle operation at a time
}

var _ hypervisor.Driver = (*Driver)(nil)

// New returns a driver for the VMs under cfg.Root. It runs nothing; call
// HealthCheck at service start to find a broken host early.
func New(cfg Config) (*Driver, error) {
	if cfg.Root == "" || !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("hyperv driver root %q is not an absolute path; set it to the instances directory", cfg.Root)
	}
	if cfg.Host == nil {
		return nil, errors.New("hyperv driver: Config.Host is nil; create one with NewPowerShellHost")
	}
	cfg.Root = filepath.Clean(cfg.Root)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SerialDial == nil {
		cfg.SerialDial = defaultSerialDial
	}
	log := cfg.Logger.With("driver", driverName)
	return &Driver{
		cfg:     cfg,
		host:    cfg.Host,
		log:     log,
		serial:  newSerialCapture(cfg.SerialDial, log),
		opLocks: map[string]*sync.Mutex{},
	}, nil
}

// Close stops the serial log captures. It leaves the VMs running and does
// not close Config.Host, which the caller owns.
func (d *Driver) Close() error {
	d.serial.stopAll()
	return nil
}

// Name returns "hyperv".
func (d *Driver) Name() string { return driverName }

// Capabilities reports the Hyper-V driver's features. Direct kernel boot
// is missing: Hyper-V boots only from its firmware.
func (d *Driver) Capabilities() hypervisor.Capabilities {
	return hypervisor.Capabilities{
		Pause:            true,
		GracefulStop:     true,
		DirectKernelBoot: false,
		SwapISO:          true,
		BIOS:             true,
		UEFI:             true,
		SecureBoot:       true,
		Addressing:       hypervisor.AddressRoutable,
		DiskFormats:      []string{"vhdx", "vpc"},
	}
}

// record is the driver's hyperv.json in an instance directory.
type record struct {
	Version    int       `json:"version"`
	ID         string    `json:"id"` // Hyper-V VM Id, lower case
	Name       string    `json:"name"`
	Dir        string    `json:"dir"`
	VMPath     string    `json:"vm_path"` // New-VM -Path
	Disk       string    `json:"disk"`
	Base       string    `json:"base"`
	Generation int       `json:"generation"`
	MAC        string    `json:"mac"` // 12 hex digits, as Hyper-V spells it
	SwitchID   string    `json:"switch_id"`
	COM1Pipe   string    `json:"com1_pipe"`
	SerialLog  string    `json:"serial_log"`
	SSHPort    int       `json:"ssh_port"`
	MadeDir    bool      `json:"made_dir"` // the driver created Dir
	CreatedAt  time.Time `json:"created_at"`
}

func recordPath(dir string) string { return filepath.Join(dir, recordFileName) }

func loadRecord(dir string) (*record, error) {
	data, err := os.ReadFile(recordPath(dir))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w; the file is damaged, so remove the VM in Hyper-V Manager and delete the directory", recordPath(dir), err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("read %s: version %d is not %d", recordPath(dir), r.Version, recordVersion)
	}
	return &r, nil
}

func (r *record) save() error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(recordPath(r.Dir), append(data, '\n'), 0o600)
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// records returns the records of every instance directory under Root.
// Damaged records are logged and skipped.
func (d *Driver) records() ([]*record, error) {
	entries, err := os.ReadDir(d.cfg.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list VMs in %s: %w", d.cfg.Root, err)
	}
	var out []*record
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.cfg.Root, e.Name())
		r, err := loadRecord(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			d.log.Warn("skipping instance directory", "dir", dir, "err", err)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// find returns the record of the VM with Hyper-V Id id. Ids that are not
// GUIDs are not found.
func (d *Driver) find(op, id string) (*record, error) {
	if !guidPattern.MatchString(id) {
		return nil, hypervisor.NotFound(driverName, op, id)
	}
	recs, err := d.records()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if strings.EqualFold(r.ID, id) {
			return r, nil
		}
	}
	return nil, hypervisor.NotFound(driverName, op, id)
}

// lockOp takes the lifecycle lock of the VM id and returns its unlock.
func (d *Driver) lockOp(id string) func() {
	d.mu.Lock()
	l, ok := d.opLocks[strings.ToLower(id)]
	if !ok {
		l = &sync.Mutex{}
		d.opLocks[strings.ToLower(id)] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// call runs script and maps a script's error kind to the driver's errors.
func (d *Driver) call(ctx context.Context, op, vm string, script scripts.Script, input, out any, opts pshost.CallOptions) error {
	err := d.host.Call(ctx, script, input, out, opts)
	if err == nil {
		return nil
	}
	var se *pshost.ScriptError
	if errors.As(err, &se) {
		switch se.Kind {
		case pshost.KindNotFound:
			e := hypervisor.NotFound(driverName, op, vm)
			e.Err = err
			return e
		case pshost.KindConflict:
			return &hypervisor.Error{Driver: driverName, Op: op, VM: vm, Kind: hypervisor.ErrConflict, Err: err,
				Hint: "choose another name, or remove the existing VM first"}
		case pshost.KindInvalidState:
			return &hypervisor.Error{Driver: driverName, Op: op, VM: vm, Kind: hypervisor.ErrInvalidState, Err: err}
		}
	}
	d.log.Error("PowerShell call failed", "op", op, "vm", vm, "script", script.Name, "err", err)
	return fmt.Errorf("%s: %s %q: %w", driverName, op, vm, err)
}
