// Package provision turns a template and a base image into a running VM
// that cloud-init has configured. Each step is paired with the cleanup that
// undoes it, so a failure or a cancel at any point leaves no process, disk
// or directory behind.
package provision

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
	"github.com/vmgenie/vmgenie/internal/guest"
	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/image"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/seed"
	"github.com/vmgenie/vmgenie/internal/template"
)

// Defaults for a provision request that does not set them.
const (
	DefaultCPUs             = 2
	DefaultMemoryMiB        = 1024
	DefaultSSHTimeout       = 5 * time.Minute
	DefaultCloudInitTimeout = 10 * time.Minute
)

// Config holds the stores, catalog and driver a Provisioner uses.
type Config struct {
	Store  *instance.Store
	Images *image.Store
	// Catalog returns the template catalog. It is called for every request,
	// so templates added on disk are seen without a restart.
	Catalog func() (*template.Catalog, error)
	Driver  hypervisor.Driver
	Logger  *slog.Logger

	SSHTimeout       time.Duration
	CloudInitTimeout time.Duration
	// Restrict cuts the guests off from every network but the port
	// forwards (QEMU user networking restrict=on). The test suite sets it.
	Restrict bool
}

// Provisioner creates VMs.
type Provisioner struct {
	cfg Config
	log *slog.Logger
}

// New returns a Provisioner.
func New(cfg Config) *Provisioner {
	if cfg.SSHTimeout <= 0 {
		cfg.SSHTimeout = DefaultSSHTimeout
	}
	if cfg.CloudInitTimeout <= 0 {
		cfg.CloudInitTimeout = DefaultCloudInitTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provisioner{cfg: cfg, log: log}
}

// Request is one provision request.
type Request struct {
	Name    string
	OS      string
	Version string
	// Image is the base image's name; empty picks the image for OS and
	// Version.
	Image     string
	CPUs      int
	MemoryMiB int
	// DiskGiB is the disk's size; zero keeps the base image's size.
	DiskGiB int
	// Vars are template variables as NAME=VALUE, as --var takes them.
	Vars []string
	// UserData is the user's own user-data, in any format cloud-init
	// accepts. It is combined with the template's.
	UserData *seed.Source
	// SSHTimeout and CloudInitTimeout override the configured timeouts
	// when positive.
	SSHTimeout       time.Duration
	CloudInitTimeout time.Duration
	OperationID      string
}

// Result describes a provisioned instance.
type Result struct {
	Instance        *instance.Metadata `json:"instance"`
	CloudInitStatus string             `json:"cloud_init_status"`
	Warnings        []string           `json:"warnings,omitempty"`
	Elapsed         string             `json:"elapsed"`
}

// Progress receives one line per step and, while the guest boots, a line
// every few seconds with the time waited.
type Progress func(stage, message string, percent int)

// job is the state of one provisioning run, shared by its steps.
type job struct {
	p        *Provisioner
	req      Request
	log      *slog.Logger
	report   Progress
	tmpl     *template.Template
	img      *image.Image
	username string
	md       *instance.Metadata
	pubKey   string
	hostKey  ssh.Signer
	hostPriv ed25519.PrivateKey
	seed     *seed.Seed
	client   *ssh.Client
	status   string
	warnings []string
	// keptSerialLog is the path of the serial log copy saved from a failed
	// run before its instance directory was removed.
	keptSerialLog string
}

// Provision creates, starts and waits for one VM. It returns when
// cloud-init has finished in the guest, or after it removed everything it
// made.
func (p *Provisioner) Provision(ctx context.Context, req Request, report Progress) (*Result, error) {
	start := time.Now()
	if req.CPUs <= 0 {
		req.CPUs = DefaultCPUs
	}
	if req.MemoryMiB <= 0 {
		req.MemoryMiB = DefaultMemoryMiB
	}
	if req.SSHTimeout <= 0 {
		req.SSHTimeout = p.cfg.SSHTimeout
	}
	if req.CloudInitTimeout <= 0 {
		req.CloudInitTimeout = p.cfg.CloudInitTimeout
	}
	log := p.log.With("vm", req.Name, "operation_id", req.OperationID)
	j := &job{p: p, req: req, log: log, report: report}
	log.Info("provisioning started", "os", req.OS, "version", req.Version, "image", req.Image)

	steps := []step{
		{stage: "validate", message: "checking the request, the template and its variables", percent: 0, run: j.validate},
		{stage: "resolve_image", message: "finding the base image", percent: 3, run: j.resolveImage},
		{stage: "create_instance", message: "creating the instance directory", percent: 5, run: j.createInstance, undo: j.removeInstance},
		{stage: "generate_keys", message: "generating the SSH key pair and host key", percent: 7, run: j.generateKeys},
		{stage: "render_seed", message: "rendering the seed data", percent: 9, run: j.renderSeed},
		{stage: "write_iso", message: "writing the seed ISO", percent: 11, run: j.writeISO},
		{stage: "create_vm", message: "creating the VM and its overlay disk", percent: 13, run: j.createVM, undo: j.deleteVM},
		{stage: "start_vm", message: "starting the VM", percent: 18, run: j.startVM},
		{stage: "wait_ssh", message: "waiting for SSH in the guest", percent: 20, run: j.waitSSH},
		{stage: "wait_cloud_init", message: "waiting for cloud-init to finish", percent: 60, run: j.waitCloudInit},
		{stage: "finish", message: "recording the instance as ready", percent: 98, run: j.finish},
	}
	err := runSteps(ctx, steps, report, log)
	if j.client != nil {
		j.client.Close()
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	if err != nil {
		if kept := j.keptSerialLog; kept != "" {
			err = fmt.Errorf("%w; the guest's serial log was kept at %s", err, kept)
		}
		level := slog.LevelError
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			level = slog.LevelWarn // the request was wrong, not the service
		}
		log.Log(ctx, level, "provisioning failed", "error", err, "warnings", j.warnings, "elapsed", elapsed)
		return nil, err
	}
	report("ready", fmt.Sprintf("VM '%s' is ready after %s", req.Name, elapsed), 100)
	log.Info("provisioning finished", "elapsed", elapsed)
	return &Result{Instance: j.md, CloudInitStatus: j.status, Warnings: j.warnings, Elapsed: elapsed.String()}, nil
}

// warn records a warning for the result and the log.
func (j *job) warn(message string) {
	j.warnings = append(j.warnings, message)
	j.log.Warn("provisioning warning", "warning", message)
}

func hasVar(vars []string, name string) bool {
	for _, v := range vars {
		if n, _, err := template.ParseAssignment(v); err == nil && n == name {
			return true
		}
	}
	return false
}

// reservedVars are set by vmgenie for each instance.
var reservedVars = []string{"HOSTNAME", "SSH_PUBLIC_KEY", "INSTANCE_ID"}

func (j *job) values(publicKey, instanceID string) (template.Values, error) {
	var values template.Values
	for _, assignment := range j.req.Vars {
		name, value, err := template.ParseAssignment(assignment)
		if err != nil {
			return values, err
		}
		for _, reserved := range reservedVars {
			if name == reserved {
				return values, fmt.Errorf("variable %s is set by vmgenie for each instance; remove it from the variables", name)
			}
		}
		if err := values.Set(name, value); err != nil {
			return values, err
		}
	}
	// cloud-init runs the package manager whenever packages are listed, and
	// that fails in a guest without network access.
	if j.p.cfg.Restrict {
		if values.Has("PACKAGES") && len(values.List("PACKAGES")) > 0 {
			return values, errors.New("variable PACKAGES: the service runs guests without network access (qemu.restrict_network), so they cannot install packages; leave PACKAGES out, or set restrict_network to false")
		}
		if err := values.SetList("PACKAGES", []string{}); err != nil {
			return values, err
		}
	}
	for name, value := range map[string]string{"HOSTNAME": j.req.Name, "SSH_PUBLIC_KEY": publicKey, "INSTANCE_ID": instanceID} {
		if err := values.Set(name, value); err != nil {
			return values, err
		}
	}
	return values, nil
}

func (j *job) render(publicKey, instanceID string) (*template.Rendered, error) {
	values, err := j.values(publicKey, instanceID)
	if err != nil {
		return nil, err
	}
	return j.tmpl.Render(values)
}

// placeholderKey is a valid public key used only by the dry render in
// validate, before the instance's own key exists.
const placeholderKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGW2VHp4FFzYLgG/5D1SGBqHQMZxHW1pXbE6FKqVmsJ4 validate"

func (j *job) validate(context.Context) error {
	if err := instance.ValidateName(j.req.Name); err != nil {
		return withKind(ErrInvalid, err)
	}
	if _, err := j.p.cfg.Store.Load(j.req.Name); err == nil || !errors.Is(err, instance.ErrNotFound) {
		return withKind(ErrConflict, fmt.Errorf("instance %q already exists; delete it with \"vmgenie delete %s\" or choose another name", j.req.Name, j.req.Name))
	}
	if _, err := os.Stat(j.p.cfg.Store.Dir(j.req.Name)); err == nil {
		return withKind(ErrConflict, fmt.Errorf("a directory for %q already exists at %s; vmgenie never adopts one: remove it or choose another name",
			j.req.Name, j.p.cfg.Store.Dir(j.req.Name)))
	}
	catalog, err := j.p.cfg.Catalog()
	if err != nil {
		return fmt.Errorf("load the template catalog: %w", err)
	}
	j.tmpl, err = catalog.Lookup(j.req.OS, j.req.Version)
	if err != nil {
		return withKind(ErrNotFound, err)
	}
	// A dry render catches every bad variable before anything exists.
	rendered, err := j.render(placeholderKey, "iid-validate")
	if err != nil {
		return withKind(ErrInvalid, err)
	}
	j.username = rendered.Username
	if j.p.cfg.Restrict && !hasVar(j.req.Vars, "PACKAGES") {
		j.warn("the guest has no network access (qemu.restrict_network), so the template's packages are not installed")
	}
	if j.req.UserData != nil {
		spec := seed.Spec{Template: &seed.Source{Name: "template", Data: rendered.UserData}, UserData: []seed.Source{*j.req.UserData}}
		if _, err := seed.Build(spec); err != nil {
			return withKind(ErrInvalid, err)
		}
	}
	return nil
}

func (j *job) resolveImage(context.Context) error {
	images := j.p.cfg.Images
	var err error
	if j.req.Image != "" {
		j.img, err = images.Get(j.req.Image)
	} else {
		j.img, err = images.FindByOS(j.req.OS, j.req.Version)
	}
	if errors.Is(err, image.ErrNotFound) {
		return withKind(ErrNotFound, err)
	}
	if err != nil {
		return err
	}
	if j.img.OS != j.req.OS || j.img.Version != j.req.Version {
		return withKind(ErrInvalid, fmt.Errorf("image %q is %s %s but the template is %s %s; pass an image of the same OS and version",
			j.img.Name, j.img.OS, j.img.Version, j.req.OS, j.req.Version))
	}
	if j.req.DiskGiB > 0 && int64(j.req.DiskGiB)<<30 < j.img.SizeBytes {
		return withKind(ErrInvalid, fmt.Errorf("disk size %d GiB is smaller than image %q (%d bytes); give at least %d GiB, or leave the size out to keep the image's",
			j.req.DiskGiB, j.img.Name, j.img.SizeBytes, (j.img.SizeBytes+(1<<30)-1)>>30))
	}
	return nil
}

func (j *job) createInstance(context.Context) error {
	network := "user"
	if j.p.cfg.Restrict {
		network = "user (restricted)"
	}
	j.md = &instance.Metadata{
		Name: j.req.Name, Phase: instance.PhaseProvisioning, OS: j.req.OS, Version: j.req.Version,
		Image: j.img.Name, ImagePath: j.img.Disk, Network: network, Username: j.username,
		CPUs: j.req.CPUs, MemoryMiB: j.req.MemoryMiB, DiskGiB: j.req.DiskGiB,
		Driver: j.p.cfg.Driver.Name(), InstanceID: template.NewInstanceID(),
		CreatedAt: time.Now().UTC().Truncate(time.Second), OperationID: j.req.OperationID,
	}
	if err := j.p.cfg.Store.Create(j.md); err != nil {
		if errors.Is(err, instance.ErrConflict) {
			return withKind(ErrConflict, err)
		}
		return err
	}
	return nil
}

func (j *job) removeInstance(context.Context) error {
	j.saveSerialLog()
	return j.p.cfg.Store.Remove(j.req.Name)
}

// saveSerialLog copies the serial log of a failed run to
// <data_dir>/logs/failed/, because the error names it and the instance
// directory is about to go.
func (j *job) saveSerialLog() {
	src := j.p.cfg.Store.Path(j.req.Name, instance.SerialLogFile)
	data, err := os.ReadFile(src)
	if err != nil || len(data) == 0 {
		return
	}
	dir := filepath.Join(filepath.Dir(j.p.cfg.Store.Root()), "logs", "failed")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		j.log.Warn("keeping the serial log failed", "error", err)
		return
	}
	dst := filepath.Join(dir, fmt.Sprintf("%s-%s-serial.log", j.req.Name, time.Now().UTC().Format("20060102T150405Z")))
	if err := atomicfile.WriteFile(dst, data, 0o600); err != nil {
		j.log.Warn("keeping the serial log failed", "error", err)
		return
	}
	j.keptSerialLog = dst
}

func (j *job) generateKeys(context.Context) error {
	var err error
	if j.pubKey, err = j.p.cfg.Store.GenerateKeyPair(j.req.Name); err != nil {
		return err
	}
	_, j.hostPriv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate SSH host key for %q: %w", j.req.Name, err)
	}
	if j.hostKey, err = ssh.NewSignerFromKey(j.hostPriv); err != nil {
		return fmt.Errorf("encode SSH host key for %q: %w", j.req.Name, err)
	}
	return nil
}

func (j *job) renderSeed(context.Context) error {
	rendered, err := j.render(j.pubKey, j.md.InstanceID)
	if err != nil {
		return withKind(ErrInvalid, err)
	}
	hostKeyPart, err := hostKeyCloudConfig(j.hostPriv)
	if err != nil {
		return err
	}
	spec := seed.Spec{
		Template: &seed.Source{Name: j.tmpl.Name() + "/user-data", Data: rendered.UserData},
		UserData: []seed.Source{{Name: "vmgenie host key", Data: hostKeyPart}},
		MetaData: &seed.Source{Name: j.tmpl.Name() + "/meta-data", Data: rendered.MetaData},
	}
	if j.req.UserData != nil {
		spec.UserData = append(spec.UserData, *j.req.UserData)
	}
	if rendered.NetworkConfig != nil {
		spec.NetworkConfig = &seed.Source{Name: j.tmpl.Name() + "/network-config", Data: rendered.NetworkConfig}
	}
	j.seed, err = seed.Build(spec)
	if err != nil {
		return withKind(ErrInvalid, err)
	}
	for _, w := range j.seed.Warnings {
		j.warn(w.String())
	}
	dir := j.p.cfg.Store.Path(j.req.Name, instance.SeedDataDir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, f := range j.seed.Files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := atomicfile.WriteFile(path, f.Data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) writeISO(context.Context) error {
	return j.seed.WriteFile(j.p.cfg.Store.Path(j.req.Name, instance.SeedISOFile), 0o600)
}

func (j *job) createVM(ctx context.Context) error {
	boot := hypervisor.Boot{Firmware: hypervisor.Firmware(j.img.Firmware), Kernel: j.img.Kernel, Initrd: j.img.Initrd, Cmdline: j.img.Cmdline}
	spec := hypervisor.Spec{
		Name: j.req.Name, Dir: j.p.cfg.Store.Dir(j.req.Name),
		CPUs: j.req.CPUs, MemoryBytes: uint64(j.req.MemoryMiB) << 20, DiskBytes: uint64(j.req.DiskGiB) << 30,
		Image:     hypervisor.Image{Path: j.img.Disk, Format: j.img.Format},
		Boot:      boot,
		SeedISO:   j.p.cfg.Store.Path(j.req.Name, instance.SeedISOFile),
		Network:   hypervisor.Network{Restrict: j.p.cfg.Restrict},
		SerialLog: j.p.cfg.Store.Path(j.req.Name, instance.SerialLogFile),
	}
	vm, err := j.p.cfg.Driver.Create(ctx, spec)
	if err != nil {
		if errors.Is(err, hypervisor.ErrConflict) {
			return withKind(ErrConflict, err)
		}
		return err
	}
	j.md.DriverID = vm.ID
	return j.p.cfg.Store.Save(j.md)
}

func (j *job) deleteVM(ctx context.Context) error {
	err := j.p.cfg.Driver.Delete(ctx, j.md.DriverID, hypervisor.DeleteOptions{Force: true})
	if errors.Is(err, hypervisor.ErrNotFound) {
		return nil
	}
	return err
}

func (j *job) startVM(ctx context.Context) error {
	return j.p.cfg.Driver.Start(ctx, j.md.DriverID)
}

// addressWaiter is a driver that waits for the guest's address itself and
// explains a timeout in its own terms.
type addressWaiter interface {
	WaitAddresses(ctx context.Context, id string, timeout, interval time.Duration) ([]hypervisor.Endpoint, error)
}

// tickEvery is how often waits report the time waited.
const tickEvery = 5 * time.Second

// ticking reports message with the elapsed time every tickEvery until the
// returned stop is called.
func (j *job) ticking(stage, message string, percent int) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				j.report(stage, fmt.Sprintf("%s (%s)", message, time.Since(start).Round(time.Second)), percent)
			}
		}
	}()
	return func() { close(done) }
}

func (j *job) waitSSH(ctx context.Context) error {
	stop := j.ticking("wait_ssh", "waiting for SSH in the guest", 20)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, j.req.SSHTimeout)
	defer cancel()
	serialLog := j.p.cfg.Store.Path(j.req.Name, instance.SerialLogFile)

	// A driver with routable addresses learns the guest's address only once
	// the guest reports it, so wait for it first. A driver that can explain
	// why no address came (such as a missing KVP daemon) does the waiting.
	var endpoint hypervisor.Endpoint
	if waiter, ok := j.p.cfg.Driver.(addressWaiter); ok {
		endpoints, err := waiter.WaitAddresses(ctx, j.md.DriverID, j.req.SSHTimeout, guest.PollInterval)
		if err != nil {
			if ctx.Err() != nil {
				return withKind(ErrTimeout, err)
			}
			return err
		}
		if len(endpoints) == 0 {
			return withKind(ErrTimeout, fmt.Errorf("the guest did not report an IP address within %s; see %s", j.req.SSHTimeout, serialLog))
		}
		endpoint = endpoints[0]
	}
	for endpoint.Port == 0 {
		endpoints, err := j.p.cfg.Driver.Addresses(ctx, j.md.DriverID)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("read the address of %q: %w", j.req.Name, err)
		}
		if len(endpoints) > 0 {
			endpoint = endpoints[0]
			continue
		}
		select {
		case <-ctx.Done():
			return withKind(ErrTimeout, fmt.Errorf("the guest did not report an IP address within %s; see %s", j.req.SSHTimeout, serialLog))
		case <-time.After(guest.PollInterval):
		}
	}
	j.md.SSHHost, j.md.SSHPort = endpoint.Host, endpoint.Port
	if err := j.p.cfg.Store.Save(j.md); err != nil {
		return err
	}
	if err := writeKnownHosts(j.p.cfg.Store.Path(j.req.Name, KnownHostsFile), endpoint, j.hostKey.PublicKey()); err != nil {
		return err
	}
	signer, err := j.p.cfg.Store.Signer(j.req.Name)
	if err != nil {
		return err
	}
	target := guest.Target{Name: j.req.Name, Address: endpoint.String(), User: j.username, Signer: signer,
		HostKey: j.hostKey.PublicKey(), SerialLog: serialLog}
	j.client, err = guest.WaitSSH(ctx, target, j.req.SSHTimeout, j.log)
	if isTimeout(err) {
		return withKind(ErrTimeout, err)
	}
	return err
}

func (j *job) waitCloudInit(ctx context.Context) error {
	stop := j.ticking("wait_cloud_init", "waiting for cloud-init to finish", 60)
	defer stop()
	target := guest.Target{Name: j.req.Name, SerialLog: j.p.cfg.Store.Path(j.req.Name, instance.SerialLogFile)}
	status, err := guest.WaitCloudInit(ctx, j.client, target, j.md.InstanceID, j.req.CloudInitTimeout, j.log)
	j.status = status
	if isTimeout(err) {
		return withKind(ErrTimeout, err)
	}
	return err
}

func isTimeout(err error) bool {
	var te *guest.TimeoutError
	return errors.As(err, &te)
}

func (j *job) finish(context.Context) error {
	j.md.Phase = instance.PhaseReady
	j.md.OperationID = ""
	return j.p.cfg.Store.Save(j.md)
}
