package hyperv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// stopGrace is the time a stop call gets beyond the guest's shutdown
// timeout, for Stop-VM -TurnOff and the PowerShell round trip.
const stopGrace = 2 * time.Minute

// inspect returns the record and Hyper-V's description of the VM id.
func (d *Driver) inspect(ctx context.Context, op, id string) (*record, vmInfo, error) {
	rec, err := d.find(op, id)
	if err != nil {
		return nil, vmInfo{}, err
	}
	var info vmInfo
	if err := d.call(ctx, op, id, scripts.GetVM, map[string]string{"id": rec.ID}, &info, pshost.CallOptions{}); err != nil {
		if isNotFound(err) {
			d.log.Warn("the VM of an instance directory is gone from Hyper-V", "vm", rec.Name, "id", rec.ID, "dir", rec.Dir)
		}
		return nil, vmInfo{}, err
	}
	if mapState(info.State) == hypervisor.StateRunning {
		d.serial.ensure(rec)
	}
	return rec, info, nil
}

// State returns the VM's state as Hyper-V reports it.
func (d *Driver) State(ctx context.Context, id string) (hypervisor.State, error) {
	_, info, err := d.inspect(ctx, "state", id)
	if err != nil {
		return "", err
	}
	return mapState(info.State), nil
}

// Inspect returns the VM's description and state.
func (d *Driver) Inspect(ctx context.Context, id string) (hypervisor.VM, error) {
	rec, info, err := d.inspect(ctx, "inspect", id)
	if err != nil {
		return hypervisor.VM{}, err
	}
	return toVM(rec, info), nil
}

// List returns every VM under Root with its state, in one PowerShell call.
// A VM whose Hyper-V VM is gone is listed as StateUnknown.
func (d *Driver) List(ctx context.Context) ([]hypervisor.VM, error) {
	recs, err := d.records()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return []hypervisor.VM{}, nil
	}

	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	var out struct {
		VMs []vmInfo `json:"vms"`
	}
	if err := d.call(ctx, "list", "", scripts.ListVMs, map[string][]string{"ids": ids}, &out, pshost.CallOptions{}); err != nil {
		return nil, err
	}

	byID := map[string]vmInfo{}
	for _, info := range out.VMs {
		byID[strings.ToLower(info.ID)] = info
	}
	vms := make([]hypervisor.VM, 0, len(recs))
	for _, r := range recs {
		info, ok := byID[r.ID]
		if !ok {
			d.log.Warn("the VM of an instance directory is gone from Hyper-V", "vm", r.Name, "id", r.ID, "dir", r.Dir)
			vms = append(vms, hypervisor.VM{ID: r.ID, Name: r.Name, Dir: r.Dir, State: hypervisor.StateUnknown})
			continue
		}
		if mapState(info.State) == hypervisor.StateRunning {
			d.serial.ensure(r)
		}
		vms = append(vms, toVM(r, info))
	}
	return vms, nil
}

// Start boots the VM (Start-VM). A Saved VM is restored.
func (d *Driver) Start(ctx context.Context, id string) error {
	unlock := d.lockOp(id)
	defer unlock()
	rec, info, err := d.inspect(ctx, "start", id)
	if err != nil {
		return err
	}
	act, err := planStart(id, mapState(info.State))
	if err != nil || act == actNone {
		return err
	}
	if err := d.call(ctx, "start", id, scripts.StartVM, map[string]string{"id": rec.ID}, nil, pshost.CallOptions{}); err != nil {
		return err
	}
	d.serial.ensure(rec)
	d.log.Info("started VM", "vm", rec.Name, "id", rec.ID)
	return nil
}

// stopOutput is the output of stop-vm.ps1.
type stopOutput struct {
	Forced bool   `json:"forced"`
	Reason string `json:"reason"`
	VM     vmInfo `json:"vm"`
}

// Stop shuts the VM down through the shutdown integration service (Stop-VM)
// within opts.Timeout, then turns it off (Stop-VM -TurnOff). A paused VM
// is resumed first. A Saved VM is rejected unless opts.Force is set, which
// discards its saved memory.
func (d *Driver) Stop(ctx context.Context, id string, opts hypervisor.StopOptions) (hypervisor.StopResult, error) {
	unlock := d.lockOp(id)
	defer unlock()
	rec, info, err := d.inspect(ctx, "stop", id)
	if err != nil {
		return hypervisor.StopResult{}, err
	}
	act, err := planStop(id, mapState(info.State), opts.Force)
	if err != nil || act == actNone {
		return hypervisor.StopResult{}, err
	}
	switch act {
	case actDiscard:
		if err := d.call(ctx, "stop", id, scripts.DiscardSavedState, map[string]string{"id": rec.ID}, nil, pshost.CallOptions{}); err != nil {
			return hypervisor.StopResult{}, err
		}
		d.log.Info("discarded the saved state of VM", "vm", rec.Name, "id", rec.ID)
		return hypervisor.StopResult{Forced: true}, nil
	case actResume:
		if err := d.call(ctx, "stop", id, scripts.ResumeVM, map[string]string{"id": rec.ID}, nil, pshost.CallOptions{}); err != nil {
			return hypervisor.StopResult{}, err
		}
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = hypervisor.DefaultStopTimeout
	}
	seconds := int((timeout + time.Second - 1) / time.Second)
	input := map[string]any{"id": rec.ID, "force": opts.Force, "timeout_seconds": seconds}
	var out stopOutput
	if err := d.call(ctx, "stop", id, scripts.StopVM, input, &out, pshost.CallOptions{Timeout: timeout + stopGrace}); err != nil {
		return hypervisor.StopResult{}, err
	}
	if out.Forced && !opts.Force {
		d.log.Warn("turned the VM off, because the guest did not shut down", "vm", rec.Name, "id", rec.ID, "reason", out.Reason)
	}
	d.log.Info("stopped VM", "vm", rec.Name, "id", rec.ID, "forced", out.Forced)
	return hypervisor.StopResult{Forced: out.Forced}, nil
}

// Pause freezes the running VM in memory (Suspend-VM).
func (d *Driver) Pause(ctx context.Context, id string) error {
	return d.simpleOp(ctx, "pause", id, planPause, scripts.SuspendVM)
}

// Resume continues the paused VM (Resume-VM).
func (d *Driver) Resume(ctx context.Context, id string) error {
	return d.simpleOp(ctx, "resume", id, planResume, scripts.ResumeVM)
}

func (d *Driver) simpleOp(ctx context.Context, op, id string, plan func(string, hypervisor.State) (action, error), script scripts.Script) error {
	unlock := d.lockOp(id)
	defer unlock()
	rec, info, err := d.inspect(ctx, op, id)
	if err != nil {
		return err
	}
	act, err := plan(id, mapState(info.State))
	if err != nil || act == actNone {
		return err
	}
	if err := d.call(ctx, op, id, script, map[string]string{"id": rec.ID}, nil, pshost.CallOptions{}); err != nil {
		return err
	}
	d.log.Info("changed VM state", "op", op, "vm", rec.Name, "id", rec.ID)
	return nil
}

// deleteOutput is the output of delete-vm.ps1.
type deleteOutput struct {
	Disks     []string `json:"disks"`
	TurnedOff bool     `json:"turned_off"`
}

// Delete removes the VM from Hyper-V (Remove-VM), then its disk, its
// Hyper-V directory, its serial log and its record, and the instance
// directory when that is left empty. A VM that is not Off or Saved is
// rejected unless opts.Force is set, which turns it off first.
func (d *Driver) Delete(ctx context.Context, id string, opts hypervisor.DeleteOptions) error {
	unlock := d.lockOp(id)
	defer unlock()
	rec, info, err := d.inspect(ctx, "delete", id)
	if err != nil {
		return err
	}
	if _, err := planDelete(id, mapState(info.State), opts.Force); err != nil {
		return err
	}
	var out deleteOutput
	input := map[string]any{"id": rec.ID, "force": opts.Force}
	if err := d.call(ctx, "delete", id, scripts.DeleteVM, input, &out, pshost.CallOptions{}); err != nil {
		return err
	}
	d.serial.stop(rec.ID)
	for _, disk := range out.Disks {
		if !sameFile(disk, rec.Disk) {
			d.log.Warn("the VM had a disk the driver did not make; keeping it", "vm", rec.Name, "disk", disk)
		}
	}
	d.removeFiles(rec)
	d.log.Info("deleted VM", "vm", rec.Name, "id", rec.ID, "dir", rec.Dir, "turned_off", out.TurnedOff)
	return nil
}

// removeVM removes a VM whose record could not be saved, with its files.
func (d *Driver) removeVM(ctx context.Context, rec *record) {
	if err := d.call(ctx, "create", rec.Name, scripts.DeleteVM, map[string]any{"id": rec.ID, "force": true}, nil, pshost.CallOptions{}); err != nil {
		d.log.Error("removing the new VM failed; remove it in Hyper-V Manager", "vm", rec.Name, "id", rec.ID, "err", err)
	}
}

// SwapISO puts the ISO image at path into the DVD drive (Set-VMDvdDrive),
// or ejects the medium when path is empty.
func (d *Driver) SwapISO(ctx context.Context, id, path string) error {
	unlock := d.lockOp(id)
	defer unlock()
	rec, err := d.find("swap-iso", id)
	if err != nil {
		return err
	}
	if path != "" {
		full, err := fullPath(path)
		if err != nil {
			return fmt.Errorf("%s: swap-iso %q: expand path %q: %w", driverName, id, path, err)
		}
		if _, err := os.Stat(full); err != nil {
			return fmt.Errorf("%s: swap-iso %q: ISO image: %w", driverName, id, err)
		}
		if strings.ContainsAny(full, "[]`*?") {
			return fmt.Errorf("%s: swap-iso %q: ISO path %q contains one of [ ] ` * ?, which Hyper-V's cmdlets read as wildcards; move the file", driverName, id, full)
		}
		path = full
	}
	if err := d.call(ctx, "swap-iso", id, scripts.SwapISO, map[string]string{"id": rec.ID, "path": path}, nil, pshost.CallOptions{}); err != nil {
		return err
	}
	d.log.Info("swapped the DVD medium", "vm", rec.Name, "id", rec.ID, "iso", path)
	return nil
}

func isNotFound(err error) bool {
	e, ok := err.(*hypervisor.Error)
	return ok && e.Kind == hypervisor.ErrNotFound
}

// sameFile compares two Windows or POSIX paths the way the host does:
// without regard to case on Windows-style paths.
func sameFile(a, b string) bool {
	if strings.Contains(a, `\`) || strings.Contains(b, `\`) {
		return strings.EqualFold(a, b)
	}
	return a == b
}
