package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/provision"
)

// VMInfo is one instance as vm.list and vm.get return it.
type VMInfo struct {
	*instance.Metadata
	State hypervisor.State `json:"state"`
	// SSH is host:port of the guest's SSH server, when known.
	SSH string `json:"ssh,omitempty"`
	Dir string `json:"dir"`
}

// SSHInfo is the user, address and key paths a client needs to open SSH
// to an instance itself.
type SSHInfo struct {
	Name           string `json:"name"`
	User           string `json:"user"`
	Host           string `json:"host"`
	Port           int    `json:"port"`
	PrivateKeyPath string `json:"private_key_path"`
	KnownHostsPath string `json:"known_hosts_path"`
	State          string `json:"state"`
}

func intRange(name string, lo, hi int64) func(any) error {
	return func(v any) error {
		n := v.(int64)
		if n < lo || n > hi {
			return fmt.Errorf("%s %d is out of range: use %d to %d", name, n, lo, hi)
		}
		return nil
	}
}

var nameParam = protocol.Param{Name: "name", Type: protocol.TypeString, Required: true,
	Check: checkName, Description: "the VM's name"}

func checkName(v any) error {
	var invalid *instance.InvalidNameError
	if err := instance.ValidateName(v.(string)); errors.As(err, &invalid) {
		return fmt.Errorf("invalid VM name %q: %s", invalid.Name, invalid.Rule)
	} else if err != nil {
		return err
	}
	return nil
}

func (a *API) vmCommands() []protocol.Command {
	return []protocol.Command{
		{Name: "vm.list", Summary: "List the VMs with their state and SSH address.", Handler: a.handleList},
		{Name: "vm.get", Summary: "Describe one VM: its metadata, state, SSH address and directory.",
			Params: []protocol.Param{nameParam}, Handler: a.handleGet},
		{Name: "vm.start", Summary: "Start a VM that is off. Returns once the hypervisor runs it, not when the guest has booted.",
			Params: []protocol.Param{nameParam}, Handler: a.lifecycle("vm.start", a.start)},
		{Name: "vm.stop", Summary: "Shut a VM down: gracefully within timeout_seconds, then by turning it off; force turns it off at once.",
			Params: []protocol.Param{nameParam,
				{Name: "force", Type: protocol.TypeBoolean, Default: false, Description: "turn the VM off without asking the guest"},
				{Name: "timeout_seconds", Type: protocol.TypeInteger, Check: intRange("timeout_seconds", 1, 3600), Description: "graceful shutdown time before the VM is turned off; default 120"},
			}, Handler: a.lifecycle("vm.stop", a.stop)},
		{Name: "vm.pause", Summary: "Freeze a running VM in memory.",
			Params: []protocol.Param{nameParam}, Handler: a.lifecycle("vm.pause", a.pause)},
		{Name: "vm.resume", Summary: "Continue a paused VM.",
			Params: []protocol.Param{nameParam}, Handler: a.lifecycle("vm.resume", a.resume)},
		{Name: "vm.delete", Summary: "Delete a VM with its disk and directory. A running VM needs force.",
			Params: []protocol.Param{nameParam,
				{Name: "force", Type: protocol.TypeBoolean, Default: false, Description: "turn a running VM off first"},
			}, Handler: a.lifecycle("vm.delete", a.delete)},
		{Name: "vm.address", Summary: "Return the host:port of the guest's SSH server.",
			Params: []protocol.Param{nameParam}, Handler: a.handleAddress},
		{Name: "vm.swap_iso", Summary: "Put another ISO image into the VM's DVD drive; an empty path ejects it.",
			Params: []protocol.Param{nameParam,
				{Name: "iso", Type: protocol.TypeString, Required: true, Description: "absolute path of the ISO image on the service's host, or \"\" to eject"},
			}, Handler: a.lifecycle("vm.swap_iso", a.swapISO)},
		{Name: "vm.ssh_info", Summary: "Return the user, address, private key and known_hosts paths for SSH to the VM.",
			Params: []protocol.Param{nameParam}, Handler: a.handleSSHInfo},
	}
}

func (a *API) needDriver() error {
	if a.cfg.Driver == nil {
		return protocol.Errorf(protocol.CodeUnavailable,
			"this service has no hypervisor driver, so it cannot manage VMs; configure a driver and restart the service")
	}
	return nil
}

func (a *API) info(ctx context.Context, md *instance.Metadata) VMInfo {
	info := VMInfo{Metadata: md, State: hypervisor.StateUnknown, Dir: a.cfg.Store.Dir(md.Name)}
	if md.SSHPort != 0 {
		info.SSH = hypervisor.Endpoint{Host: md.SSHHost, Port: md.SSHPort}.String()
	}
	if a.cfg.Driver == nil || md.DriverID == "" {
		return info
	}
	state, err := a.cfg.Driver.State(ctx, md.DriverID)
	switch {
	case err == nil:
		info.State = state
	case errors.Is(err, hypervisor.ErrNotFound):
		info.State = "missing"
	default:
		a.log.Warn("reading VM state failed", "vm", md.Name, "error", err)
	}
	return info
}

func (a *API) handleList(ctx context.Context, _ *protocol.Call) (any, error) {
	list, problems := a.cfg.Store.List()
	for _, err := range problems {
		a.log.Warn("instance directory skipped", "error", err)
	}
	infos := make([]VMInfo, 0, len(list))
	for _, md := range list {
		infos = append(infos, a.info(ctx, md))
	}
	return map[string]any{"vms": infos}, nil
}

func (a *API) load(name string) (*instance.Metadata, error) {
	md, err := a.cfg.Store.Load(name)
	if err != nil {
		return nil, protocolError(err)
	}
	return md, nil
}

func (a *API) handleGet(ctx context.Context, call *protocol.Call) (any, error) {
	md, err := a.load(call.Params.String("name"))
	if err != nil {
		return nil, err
	}
	return a.info(ctx, md), nil
}

// lifecycle wraps a VM operation: it needs a driver, holds the VM name so
// that nothing else runs on the VM at the same time, loads the metadata and
// logs the outcome.
func (a *API) lifecycle(what string, op func(context.Context, *protocol.Call, *instance.Metadata) (any, error)) protocol.Handler {
	return func(ctx context.Context, call *protocol.Call) (any, error) {
		if err := a.needDriver(); err != nil {
			return nil, err
		}
		name := call.Params.String("name")
		release, err := a.ops.Hold(name, what)
		if err != nil {
			return nil, err
		}
		defer release()
		md, err := a.load(name)
		if err != nil {
			return nil, err
		}
		if md.Phase == instance.PhaseProvisioning && what != "vm.delete" {
			return nil, protocol.Errorf(protocol.CodeConflict, "VM '%s' is still being provisioned; wait for it or delete it", name)
		}
		start := time.Now()
		result, err := op(ctx, call, md)
		if err != nil {
			a.log.Error(what+" failed", "id", call.ID, "vm", name, "error", err)
			return nil, protocolError(err)
		}
		a.log.Info(what+" done", "id", call.ID, "vm", name, "elapsed", time.Since(start).Round(time.Millisecond))
		return result, nil
	}
}

func (a *API) stateResult(ctx context.Context, md *instance.Metadata, details string) (any, error) {
	info := a.info(ctx, md)
	return map[string]any{"details": details, "vm": info}, nil
}

func (a *API) start(ctx context.Context, _ *protocol.Call, md *instance.Metadata) (any, error) {
	if err := a.cfg.Driver.Start(ctx, md.DriverID); err != nil {
		return nil, err
	}
	a.refreshAddress(ctx, md)
	return a.stateResult(ctx, md, fmt.Sprintf("VM '%s' started.", md.Name))
}

// refreshAddress records the SSH endpoint again after a start, because a
// driver may pick a new port when the old one is taken.
func (a *API) refreshAddress(ctx context.Context, md *instance.Metadata) {
	endpoints, err := a.cfg.Driver.Addresses(ctx, md.DriverID)
	if err != nil || len(endpoints) == 0 {
		return
	}
	e := endpoints[0]
	if e.Host == md.SSHHost && e.Port == md.SSHPort {
		return
	}
	md.SSHHost, md.SSHPort = e.Host, e.Port
	if err := a.cfg.Store.Save(md); err != nil {
		a.log.Error("recording the new SSH address failed", "vm", md.Name, "error", err)
		return
	}
	if err := provision.RewriteKnownHosts(a.cfg.Store.Path(md.Name, provision.KnownHostsFile), e); err != nil {
		a.log.Error("rewriting known_hosts failed", "vm", md.Name, "error", err)
	}
}

func (a *API) stop(ctx context.Context, call *protocol.Call, md *instance.Metadata) (any, error) {
	if state, err := a.cfg.Driver.State(ctx, md.DriverID); err == nil && state == hypervisor.StateOff {
		return a.stateResult(ctx, md, fmt.Sprintf("VM '%s' is already off.", md.Name))
	}
	opts := hypervisor.StopOptions{Force: call.Params.Bool("force"), Timeout: a.cfg.StopTimeout}
	if call.Params.Has("timeout_seconds") {
		opts.Timeout = time.Duration(call.Params.Int("timeout_seconds")) * time.Second
	}
	res, err := a.cfg.Driver.Stop(ctx, md.DriverID, opts)
	if err != nil {
		return nil, err
	}
	details := fmt.Sprintf("VM '%s' shut down.", md.Name)
	if res.Forced {
		details = fmt.Sprintf("VM '%s' turned off.", md.Name)
	}
	return a.stateResult(ctx, md, details)
}

func (a *API) pause(ctx context.Context, _ *protocol.Call, md *instance.Metadata) (any, error) {
	if err := a.cfg.Driver.Pause(ctx, md.DriverID); err != nil {
		return nil, err
	}
	return a.stateResult(ctx, md, fmt.Sprintf("VM '%s' paused.", md.Name))
}

func (a *API) resume(ctx context.Context, _ *protocol.Call, md *instance.Metadata) (any, error) {
	if err := a.cfg.Driver.Resume(ctx, md.DriverID); err != nil {
		return nil, err
	}
	return a.stateResult(ctx, md, fmt.Sprintf("VM '%s' resumed.", md.Name))
}

func (a *API) delete(ctx context.Context, call *protocol.Call, md *instance.Metadata) (any, error) {
	if md.DriverID != "" {
		err := a.cfg.Driver.Delete(ctx, md.DriverID, hypervisor.DeleteOptions{Force: call.Params.Bool("force")})
		if errors.Is(err, hypervisor.ErrInvalidState) {
			return nil, protocol.Errorf(protocol.CodeConflict, "VM '%s' is running; stop it first, or delete it with force (vmgenie delete --force %s) to turn it off", md.Name, md.Name)
		}
		if err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			return nil, err
		}
	}
	if err := a.cfg.Store.Remove(md.Name); err != nil {
		return nil, err
	}
	return map[string]any{"details": fmt.Sprintf("VM '%s' deleted.", md.Name)}, nil
}

func (a *API) swapISO(ctx context.Context, call *protocol.Call, md *instance.Metadata) (any, error) {
	path := call.Params.String("iso")
	if path != "" {
		if !filepath.IsAbs(path) {
			return nil, protocol.Errorf(protocol.CodeInvalidParameter, "iso %q is not an absolute path; the service resolves no relative paths, so give the full path", path)
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeNotFound, "iso %q: %v", path, err)
		}
		if !info.Mode().IsRegular() {
			return nil, protocol.Errorf(protocol.CodeInvalidParameter, "iso %q is not a regular file", path)
		}
		if !isISO9660(path) {
			return nil, protocol.Errorf(protocol.CodeInvalidParameter, "iso %q is not an ISO 9660 image (no CD001 volume descriptor at byte 32769); give an .iso file", path)
		}
	}
	if err := a.cfg.Driver.SwapISO(ctx, md.DriverID, path); err != nil {
		return nil, err
	}
	details := fmt.Sprintf("VM '%s' now has %s in its DVD drive.", md.Name, path)
	if path == "" {
		details = fmt.Sprintf("VM '%s' has an empty DVD drive.", md.Name)
	}
	return a.stateResult(ctx, md, details)
}

func (a *API) handleAddress(ctx context.Context, call *protocol.Call) (any, error) {
	if err := a.needDriver(); err != nil {
		return nil, err
	}
	md, err := a.load(call.Params.String("name"))
	if err != nil {
		return nil, err
	}
	endpoints, err := a.cfg.Driver.Addresses(ctx, md.DriverID)
	if err != nil {
		return nil, protocolError(err)
	}
	if len(endpoints) == 0 {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "VM '%s' has not reported an address yet; wait for it to boot and try again", md.Name)
	}
	addrs := make([]string, len(endpoints))
	for i, e := range endpoints {
		addrs[i] = e.String()
	}
	return map[string]any{"address": addrs[0], "addresses": addrs}, nil
}

func (a *API) handleSSHInfo(ctx context.Context, call *protocol.Call) (any, error) {
	md, err := a.load(call.Params.String("name"))
	if err != nil {
		return nil, err
	}
	info := a.info(ctx, md)
	return SSHInfo{
		Name: md.Name, User: md.Username, Host: md.SSHHost, Port: md.SSHPort,
		PrivateKeyPath: a.cfg.Store.PrivateKeyPath(md.Name),
		KnownHostsPath: a.cfg.Store.Path(md.Name, provision.KnownHostsFile),
		State:          string(info.State),
	}, nil
}

// isISO9660 reports whether path starts with an ISO 9660 volume descriptor:
// the identifier "CD001" in the first descriptor, at sector 16.
func isISO9660(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	id := make([]byte, 5)
	if _, err := f.ReadAt(id, 16*2048+1); err != nil {
		return false
	}
	return string(id) == "CD001"
}
