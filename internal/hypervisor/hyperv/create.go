package hyperv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// vmInfo is the VM description every VM script returns (Get-GenieVMInfo
// in lib.ps1).
type vmInfo struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	State              string `json:"state"`
	Status             string `json:"status"`
	Generation         int    `json:"generation"`
	CPUs               int    `json:"cpus"`
	MemoryStartupBytes uint64 `json:"memory_startup_bytes"`
	DynamicMemory      bool   `json:"dynamic_memory"`
	ISO                string `json:"iso"`
	MAC                string `json:"mac"`
	SwitchID           string `json:"switch_id"`
	Path               string `json:"path"`

	// Set by create-vm.ps1 only.
	AutomaticCheckpoints string `json:"automatic_checkpoints"`
	SecureBootTemplate   string `json:"secure_boot_template"`
}

// createInput is the input of create-vm.ps1.
type createInput struct {
	Name          string             `json:"name"`
	VMPath        string             `json:"vm_path"`
	Disk          string             `json:"disk"`
	Base          string             `json:"base"`
	DiskBytes     uint64             `json:"disk_bytes"`
	Generation    int                `json:"generation"`
	CPUs          int                `json:"cpus"`
	MemoryBytes   uint64             `json:"memory_bytes"`
	DynamicMemory dynamicMemoryInput `json:"dynamic_memory"`
	ISO           string             `json:"iso"`
	SwitchID      string             `json:"switch_id"`
	MAC           string             `json:"mac"`
	SecureBoot    secureBootInput    `json:"secure_boot"`
	KVPServiceID  string             `json:"kvp_service_id"`
	COM1Pipe      string             `json:"com1_pipe"`
	Notes         string             `json:"notes"`
}

type dynamicMemoryInput struct {
	Enabled      bool   `json:"enabled"`
	MinimumBytes uint64 `json:"minimum_bytes"`
	MaximumBytes uint64 `json:"maximum_bytes"`
}

type secureBootInput struct {
	Enabled      bool   `json:"enabled"`
	TemplateID   string `json:"template_id"`
	TemplateName string `json:"template_name"`
}

// hyperVMemoryUnit is the granularity of Hyper-V's memory settings: 2 MiB.
const hyperVMemoryUnit = 2 * hypervisor.MiB

// Create makes the VM's differencing disk and the Hyper-V VM, leaving it
// Off. On failure it removes what it made.
func (d *Driver) Create(ctx context.Context, spec hypervisor.Spec) (vm hypervisor.VM, err error) {
	if err := spec.Validate(); err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	spec, err = d.resolvePaths(spec)
	if err != nil {
		return hypervisor.VM{}, err
	}
	if err := d.checkSpec(spec); err != nil {
		return hypervisor.VM{}, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()

	recs, err := d.records()
	if err != nil {
		return hypervisor.VM{}, err
	}
	for _, r := range recs {
		if strings.EqualFold(r.Name, spec.Name) {
			return hypervisor.VM{}, hypervisor.Conflict(driverName, "create", spec.Name, "a VM with this name exists in "+r.Dir)
		}
	}
	if _, err := os.Stat(recordPath(spec.Dir)); err == nil {
		return hypervisor.VM{}, hypervisor.Conflict(driverName, "create", spec.Name, "directory "+spec.Dir+" already holds a VM")
	}

	switches, err := ListSwitches(ctx, d.host)
	if err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	want := spec.Network.Switch
	if want == "" {
		want = d.cfg.DefaultSwitch
	}
	sw, err := resolveSwitch(switches, want)
	if err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w: %w", driverName, spec.Name, hypervisor.ErrInvalidSpec, err)
	}

	rec, input, err := d.newRecord(spec, sw)
	if err != nil {
		return hypervisor.VM{}, err
	}
	madeDir, err := makeDir(spec.Dir)
	if err != nil {
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	rec.MadeDir = madeDir
	defer func() {
		if err != nil {
			d.removeFiles(rec)
		}
	}()
	if err := makeReadOnly(spec.Image.Path); err != nil {
		d.log.Warn("could not make the base image read-only", "image", spec.Image.Path, "err", err)
	}

	var info vmInfo
	if err := d.call(ctx, "create", spec.Name, scripts.CreateVM, input, &info, pshost.CallOptions{}); err != nil {
		return hypervisor.VM{}, err
	}
	rec.ID = strings.ToLower(info.ID)
	if err := rec.save(); err != nil {
		d.log.Error("saving the VM record failed; removing the new VM", "vm", spec.Name, "id", rec.ID, "err", err)
		d.removeVM(context.WithoutCancel(ctx), rec)
		return hypervisor.VM{}, fmt.Errorf("%s: create %q: save %s: %w", driverName, spec.Name, recordPath(rec.Dir), err)
	}
	d.log.Info("created VM", "vm", spec.Name, "id", rec.ID, "dir", rec.Dir, "generation", rec.Generation,
		"switch", sw.Name, "switch_id", sw.ID, "mac", rec.MAC, "automatic_checkpoints", info.AutomaticCheckpoints,
		"secure_boot", spec.Boot.SecureBoot, "secure_boot_template_by", info.SecureBootTemplate)
	return toVM(rec, info), nil
}

// checkSpec checks what the Hyper-V driver adds to Spec.Validate.
func (d *Driver) checkSpec(spec hypervisor.Spec) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%s: create %q: %w: %s", driverName, spec.Name, hypervisor.ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	if filepath.Dir(spec.Dir) != d.cfg.Root {
		return invalid("dir %q is not a direct child of the driver root %s; create instance directories there", spec.Dir, d.cfg.Root)
	}
	if filepath.Base(spec.Dir) != spec.Name {
		return invalid("dir %q must be named after the VM, %s", spec.Dir, filepath.Join(d.cfg.Root, spec.Name))
	}
	if spec.Boot.Kernel != "" {
		return hypervisor.Unsupported(driverName, "create", spec.Name, "direct kernel boot")
	}
	if spec.Network.Restrict {
		return hypervisor.Unsupported(driverName, "create", spec.Name, "network restriction (Hyper-V switches have no equivalent of QEMU's restrict=on)")
	}
	// Hyper-V keeps files in folders named after the VM, so the name must
	// be a valid Windows file name.
	if i := strings.IndexAny(spec.Name, `<>:"|?*`); i >= 0 {
		return invalid("name %q contains %q, which Windows file names cannot contain", spec.Name, spec.Name[i])
	}
	if strings.HasSuffix(spec.Name, ".") || strings.HasSuffix(spec.Name, " ") {
		return invalid("name %q ends with a dot or space, which Windows drops from file names", spec.Name)
	}
	switch spec.Image.Format {
	case "vhdx", "vpc":
	default:
		return invalid("base image format %q is not vhdx or vpc (VHD); convert it with PrepareBaseImage or qemu-img convert -O vhdx -o subformat=dynamic", spec.Image.Format)
	}
	if spec.MemoryBytes%hyperVMemoryUnit != 0 {
		return invalid("memory %d bytes is not a multiple of 2 MiB, which Hyper-V requires", spec.MemoryBytes)
	}
	if spec.Boot.SecureBoot && spec.Boot.Firmware != hypervisor.FirmwareUEFI {
		return invalid("secure boot needs UEFI firmware (Generation 2)")
	}
	paths := []struct{ what, path string }{
		{"dir", spec.Dir}, {"base image", spec.Image.Path}, {"seed ISO", spec.SeedISO}, {"serial log", spec.SerialLog},
	}
	for _, p := range paths {
		// Some Hyper-V cmdlets read -Path as a wildcard pattern.
		if strings.ContainsAny(p.path, "[]`*?") {
			return invalid("%s path %q contains one of [ ] ` * ?, which Hyper-V's cmdlets read as wildcards; move the file to a path without them", p.what, p.path)
		}
	}
	for _, f := range []struct{ what, path string }{{"base image", spec.Image.Path}, {"seed ISO", spec.SeedISO}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: create %q: %w: %s %s: %w", driverName, spec.Name, hypervisor.ErrInvalidSpec, f.what, f.path, err)
		}
	}
	return nil
}

// resolvePaths expands the spec's paths to full long paths, so that an 8.3
// short form such as C:\PROGRA~1 reaches Hyper-V as the real path.
func (d *Driver) resolvePaths(spec hypervisor.Spec) (hypervisor.Spec, error) {
	fields := []*string{&spec.Dir, &spec.Image.Path, &spec.SeedISO, &spec.SerialLog}
	for _, f := range fields {
		if *f == "" {
			continue
		}
		full, err := fullPath(*f)
		if err != nil {
			return spec, fmt.Errorf("%s: create %q: %w: expand path %q: %w", driverName, spec.Name, hypervisor.ErrInvalidSpec, *f, err)
		}
		*f = full
	}
	return spec, nil
}

// newRecord builds the driver's record and the create-vm.ps1 input.
func (d *Driver) newRecord(spec hypervisor.Spec, sw Switch) (*record, createInput, error) {
	rec := &record{
		Version:    recordVersion,
		Name:       spec.Name,
		Dir:        spec.Dir,
		VMPath:     filepath.Join(spec.Dir, vmDirName),
		Disk:       filepath.Join(spec.Dir, diskFileName(spec.Image.Format)),
		Base:       spec.Image.Path,
		Generation: 1,
		SwitchID:   sw.ID,
		SerialLog:  spec.SerialLog,
		SSHPort:    spec.SSH.GuestPort,
		CreatedAt:  time.Now().UTC(),
	}
	if spec.Boot.Firmware == hypervisor.FirmwareUEFI {
		rec.Generation = 2
	}
	if rec.SerialLog == "" {
		rec.SerialLog = filepath.Join(spec.Dir, serialDefault)
	}
	if rec.SSHPort == 0 {
		rec.SSHPort = 22
	}
	mac, err := hyperVMAC(spec.Network.MAC)
	if err != nil {
		return nil, createInput{}, fmt.Errorf("%s: create %q: %w", driverName, spec.Name, err)
	}
	rec.MAC = mac
	token := make([]byte, 8)
	if _, err := rand.Read(token); err != nil {
		return nil, createInput{}, fmt.Errorf("%s: create %q: generate the COM1 pipe name: %w", driverName, spec.Name, err)
	}
	rec.COM1Pipe = `\\.\pipe\vmgenie-com1-` + hex.EncodeToString(token)

	in := createInput{
		Name:        spec.Name,
		VMPath:      rec.VMPath,
		Disk:        rec.Disk,
		Base:        rec.Base,
		DiskBytes:   spec.DiskBytes,
		Generation:  rec.Generation,
		CPUs:        spec.CPUs,
		MemoryBytes: spec.MemoryBytes,
		ISO:         spec.SeedISO,
		SwitchID:    sw.ID,
		MAC:         rec.MAC,
		SecureBoot: secureBootInput{
			Enabled: spec.Boot.SecureBoot, TemplateID: UEFICATemplateID, TemplateName: UEFICATemplateName,
		},
		KVPServiceID: KVPIntegrationServiceID,
		COM1Pipe:     rec.COM1Pipe,
		Notes:        "Managed by vmgenie. Instance directory: " + spec.Dir,
	}
	if dm := d.cfg.DynamicMemory; dm != nil {
		in.DynamicMemory = dynamicMemoryFor(*dm, spec.MemoryBytes)
	}
	return rec, in, nil
}

// dynamicMemoryFor fills in the defaults of dm for a startup amount.
func dynamicMemoryFor(dm DynamicMemory, startup uint64) dynamicMemoryInput {
	out := dynamicMemoryInput{Enabled: true, MinimumBytes: dm.MinimumBytes, MaximumBytes: dm.MaximumBytes}
	if out.MinimumBytes == 0 {
		out.MinimumBytes = min(512*hypervisor.MiB, startup)
	}
	if out.MaximumBytes == 0 {
		out.MaximumBytes = startup
	}
	out.MinimumBytes = min(out.MinimumBytes, startup)
	out.MaximumBytes = max(out.MaximumBytes, startup)
	return out
}

func diskFileName(format string) string {
	if format == "vpc" {
		return "disk.vhd"
	}
	return "disk.vhdx"
}

// hyperVMAC returns mac in Hyper-V's spelling (12 upper-case hex digits),
// or a new locally administered unicast address when mac is empty.
func hyperVMAC(mac string) (string, error) {
	if mac != "" {
		return strings.ToUpper(strings.NewReplacer(":", "", "-", "").Replace(mac)), nil
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a MAC address: %w", err)
	}
	b[0] = b[0]&^1 | 2 // unicast, locally administered
	return strings.ToUpper(hex.EncodeToString(b[:])), nil
}

// makeDir creates dir unless it exists and reports whether it created it.
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

// makeReadOnly clears the write permission of the base image; on Windows
// that sets its read-only attribute.
func makeReadOnly(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return nil
	}
	return os.Chmod(path, fi.Mode().Perm()&^0o222)
}

func toVM(rec *record, info vmInfo) hypervisor.VM {
	return hypervisor.VM{
		ID:          rec.ID,
		Name:        rec.Name,
		Dir:         rec.Dir,
		State:       mapState(info.State),
		CPUs:        info.CPUs,
		MemoryBytes: info.MemoryStartupBytes,
		ISO:         info.ISO,
	}
}

// removeFiles deletes the files the driver made for rec: the disk, the
// VM directory, the serial log and the record, then the instance directory
// when it is empty. Files that others put there stay.
func (d *Driver) removeFiles(rec *record) {
	for _, path := range []string{rec.Disk, rec.SerialLog, recordPath(rec.Dir)} {
		if err := removeWithRetry(path, false); err != nil {
			d.log.Error("removing a VM file failed", "vm", rec.Name, "path", path, "err", err)
		}
	}
	if err := removeWithRetry(rec.VMPath, true); err != nil {
		d.log.Error("removing the VM directory failed", "vm", rec.Name, "path", rec.VMPath, "err", err)
	}
	if err := os.Remove(rec.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Debug("keeping the instance directory, because it contains other files", "dir", rec.Dir, "err", err)
	}
}

// removeWithRetry removes path (recursively when all is set). It retries
// for up to 5 seconds, because vmms may hold a disk for a moment after
// Remove-VM returns.
func removeWithRetry(path string, all bool) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if all {
			err = os.RemoveAll(path)
		} else {
			err = os.Remove(path)
		}
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}
