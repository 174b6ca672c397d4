// Package api implements the service commands that touch state: the
// provisioner behind "provision", the vm.* lifecycle commands, image.*,
// template.* and seed.build. The CLI and the PowerShell module reach all of
// them through the service.
package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/image"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/provision"
	"github.com/vmgenie/vmgenie/internal/service"
	"github.com/vmgenie/vmgenie/internal/template"
)

// Config holds the stores, driver and settings the commands use.
type Config struct {
	Store  *instance.Store
	Images *image.Store
	// TemplateDir is the on-disk template directory that adds to or
	// overrides the embedded catalog; empty means embedded only.
	TemplateDir string
	// Driver is nil when the service runs without a hypervisor. Then the
	// template, seed and image commands work and the VM commands return
	// unavailable.
	Driver hypervisor.Driver
	Logger *slog.Logger

	SSHTimeout       time.Duration
	CloudInitTimeout time.Duration
	StopTimeout      time.Duration
	// Restrict runs guests with no network access but the SSH forward.
	Restrict bool
}

// API holds the command handlers.
type API struct {
	cfg         Config
	log         *slog.Logger
	provisioner *provision.Provisioner
	ops         *service.Operations
}

// New returns the API for cfg.
func New(cfg Config) *API {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, log: log}
	if cfg.Driver != nil {
		a.provisioner = provision.New(provision.Config{
			Store: cfg.Store, Images: cfg.Images, Catalog: a.catalog, Driver: cfg.Driver, Logger: log,
			SSHTimeout: cfg.SSHTimeout, CloudInitTimeout: cfg.CloudInitTimeout, Restrict: cfg.Restrict,
		})
	}
	return a
}

// catalog loads the templates. The configured template directory need not
// exist: without it only the embedded templates are there.
func (a *API) catalog() (*template.Catalog, error) {
	dir := a.cfg.TemplateDir
	if dir != "" {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			dir = ""
		}
	}
	return template.Load(dir)
}

// Provisioner returns the service.Provisioner for the provision command, or
// nil when there is no driver.
func (a *API) Provisioner() service.Provisioner {
	if a.provisioner == nil {
		return nil
	}
	return provisionAdapter{a}
}

// Register adds the commands to srv and keeps srv's operations, so the vm.*
// commands wait for nothing and conflict with a running provision of the
// same VM.
func (a *API) Register(srv *service.Server) error {
	a.ops = srv.Operations()
	for _, cmd := range a.commands() {
		if err := srv.Register(cmd); err != nil {
			return err
		}
	}
	return nil
}

// Recover removes instances whose provisioning never finished, because the
// service stopped or crashed during it. It runs once at service start,
// before the listener opens, so no operation can be running.
func (a *API) Recover(ctx context.Context) {
	list, problems := a.cfg.Store.List()
	for _, err := range problems {
		a.log.Warn("instance directory skipped", "error", err)
	}
	for _, md := range list {
		if md.Phase != instance.PhaseProvisioning {
			continue
		}
		a.log.Warn("removing an instance whose provisioning did not finish", "vm", md.Name, "operation_id", md.OperationID)
		if err := a.removeInstance(ctx, md); err != nil {
			a.log.Error("removing an unfinished instance failed", "vm", md.Name, "error", err)
		}
	}
}

// removeInstance deletes the VM (turning it off) and the instance directory.
func (a *API) removeInstance(ctx context.Context, md *instance.Metadata) error {
	if a.cfg.Driver != nil && md.DriverID != "" {
		err := a.cfg.Driver.Delete(ctx, md.DriverID, hypervisor.DeleteOptions{Force: true})
		if err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			return fmt.Errorf("delete VM of %q: %w", md.Name, err)
		}
	}
	return a.cfg.Store.Remove(md.Name)
}

// protocolError maps errors of the packages below to protocol codes.
func protocolError(err error) error {
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return err
	}
	code := protocol.CodeInternal
	switch {
	case errors.Is(err, provision.ErrInvalid), errors.Is(err, image.ErrInvalid), errors.Is(err, hypervisor.ErrInvalidSpec):
		code = protocol.CodeInvalidParameter
	case errors.Is(err, provision.ErrNotFound), errors.Is(err, instance.ErrNotFound),
		errors.Is(err, image.ErrNotFound), errors.Is(err, hypervisor.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		code = protocol.CodeNotFound
	case errors.Is(err, provision.ErrConflict), errors.Is(err, instance.ErrConflict),
		errors.Is(err, image.ErrConflict), errors.Is(err, hypervisor.ErrConflict),
		errors.Is(err, hypervisor.ErrInvalidState):
		code = protocol.CodeConflict
	case errors.Is(err, provision.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		code = protocol.CodeTimeout
	case errors.Is(err, hypervisor.ErrUnsupported):
		code = protocol.CodeUnavailable
	}
	var nameErr *instance.InvalidNameError
	if errors.As(err, &nameErr) {
		code = protocol.CodeInvalidParameter
	}
	return &protocol.Error{Code: code, Message: err.Error()}
}
