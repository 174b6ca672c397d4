package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"time"

	"github.com/vmgenie/vmgenie/internal/api"
	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv"
	"github.com/vmgenie/vmgenie/internal/hypervisor/qemu"
	"github.com/vmgenie/vmgenie/internal/image"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/service"
)

func init() { serverHooks = append(serverHooks, stateCommandsHook) }

// stateCommandsHook opens the instance and image stores, picks the
// hypervisor driver and adds the provisioner and the vm.*, image.*,
// template.* and seed.build commands.
func stateCommandsHook(a *app, opts *service.Options) (func(*service.Server) error, error) {
	cfg := a.config
	if cfg == nil {
		var err error
		if cfg, err = config.Load(config.LoadOptions{Path: a.configPath}); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := instance.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	images, err := image.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	driver, err := newDriver(cfg, store.Root(), log)
	if err != nil {
		return nil, err
	}
	commands := api.New(api.Config{
		Store: store, Images: images, TemplateDir: cfg.TemplateDir, Driver: driver, Logger: log,
		SSHTimeout: cfg.Provision.SSHTimeout, CloudInitTimeout: cfg.Provision.CloudInitTimeout,
		Restrict: cfg.QEMU.RestrictNetwork,
	})
	if driver != nil {
		opts.Driver = driver.Name()
		opts.Provisioner = commands.Provisioner()
	}
	return func(srv *service.Server) error {
		if err := commands.Register(srv); err != nil {
			return err
		}
		commands.Recover(context.Background())
		return nil
	}, nil
}

// newDriver returns the configured hypervisor driver. With driver "auto" a
// host without the hypervisor gets no driver, and the service still serves
// the template, seed and image commands.
func newDriver(cfg *config.Config, root string, log *slog.Logger) (hypervisor.Driver, error) {
	name := cfg.Driver
	if name == "auto" {
		name = "qemu"
		if runtime.GOOS == "windows" {
			name = "hyperv"
		}
	}
	switch name {
	case "none":
		log.Info("no hypervisor driver: the configuration sets driver none, so VM commands return unavailable")
		return nil, nil
	case "qemu":
		d, err := qemu.New(qemu.Config{Root: root, Accel: qemu.Accel(cfg.QEMU.Accel), Logger: log})
		if err != nil {
			return nil, err
		}
		if _, err := exec.LookPath(d.Binary()); err != nil {
			if cfg.Driver == "auto" {
				log.Warn("no hypervisor driver: QEMU was not found, so VMs cannot be created; install it (Debian: apt-get install qemu-system-x86 qemu-utils)",
					"binary", d.Binary())
				return nil, nil
			}
			return nil, fmt.Errorf("driver qemu: %s was not found on PATH: install QEMU (Debian: apt-get install qemu-system-x86 qemu-utils)", d.Binary())
		}
		log.Info("hypervisor driver ready", "driver", "qemu", "binary", d.Binary())
		return d, nil
	case "hyperv":
		d, err := newHyperVDriver(root, log)
		if err != nil {
			if cfg.Driver == "auto" {
				log.Warn("no hypervisor driver: Hyper-V is not usable, so VMs cannot be created", "error", err)
				return nil, nil
			}
			return nil, fmt.Errorf("driver hyperv: %w", err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unknown driver %q: use auto, qemu, hyperv or none", cfg.Driver)
}

// newHyperVDriver starts the PowerShell host and checks that Hyper-V can be
// used: the module is present, vmms runs and the service has the rights.
// Off Windows it returns an error that names the platform.
func newHyperVDriver(root string, log *slog.Logger) (hypervisor.Driver, error) {
	host, err := hyperv.NewPowerShellHost(log)
	if err != nil {
		return nil, err
	}
	d, err := hyperv.New(hyperv.Config{Root: root, Host: host, Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.HealthCheck(ctx); err != nil {
		return nil, err
	}
	return d, nil
}
