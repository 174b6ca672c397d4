package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/systemd"
)

// systemdBackend manages the service as a systemd unit.
type systemdBackend struct {
	a       *app
	cfg     *config.Config
	manager *systemd.Manager

	// The fields below are the outside world, replaced in tests.
	executable  func() (string, error)
	euid        func() int
	lookupGroup func(name string) error
	// groupadd is the program that creates the socket's group.
	groupadd string
}

func newServiceBackend(a *app, userMode bool) (serviceBackend, error) {
	cfg, err := a.loadConfig(userMode)
	if err != nil {
		return nil, err
	}
	m := &systemd.Manager{User: userMode, UnitDir: systemd.SystemUnitDir}
	if userMode {
		if m.UnitDir, err = systemd.UserUnitDir(os.Getenv); err != nil {
			return nil, err
		}
	}
	return &systemdBackend{
		a:          a,
		cfg:        cfg,
		manager:    m,
		executable: executablePath,
		euid:       os.Geteuid,
		lookupGroup: func(name string) error {
			_, err := user.LookupGroup(name)
			return err
		},
		groupadd: "groupadd",
	}, nil
}

func (b *systemdBackend) install(ctx context.Context) (string, error) {
	userMode := b.manager.User
	if !userMode && b.euid() != 0 {
		return "", errors.New("installing the system service needs root: run \"sudo vmgenie service install\", or install a per-user service with --user")
	}
	binary, err := b.executable()
	if err != nil {
		return "", err
	}
	// The system unit has PrivateTmp=yes, so the service would not find
	// a binary in /tmp, such as one that "go run" built.
	if tmp := os.TempDir(); strings.HasPrefix(binary, strings.TrimSuffix(tmp, "/")+"/") {
		return "", fmt.Errorf("the vmgenie binary %s is in the temporary directory %s: copy it to a lasting place, such as /usr/local/bin, and run install from there", binary, tmp)
	}
	args, err := serviceArgs(b.a, b.cfg)
	if err != nil {
		return "", err
	}

	var notes []string
	if !userMode {
		// ProtectSystem=strict makes the file system read-only, so the
		// service could not create these directories itself.
		for _, dir := range b.writableDirs() {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", fmt.Errorf("create directory %s for the service: %w", dir, err)
			}
		}
		note, err := b.ensureGroup(ctx, b.cfg.Group)
		if err != nil {
			return "", err
		}
		if note != "" {
			notes = append(notes, note)
		}
	}

	unit, err := systemd.RenderUnit(systemd.UnitOptions{
		Binary:          binary,
		Args:            args,
		User:            userMode,
		WritableDirs:    b.writableDirs(),
		ShutdownTimeout: b.cfg.Limits.ShutdownTimeout,
	})
	if err != nil {
		return "", err
	}
	if err := b.manager.Install(ctx, unit); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Installed, enabled and started %s (unit file %s).", systemd.UnitName, b.manager.UnitPath())
	return strings.Join(append([]string{msg}, notes...), "\n"), nil
}

// writableDirs lists the directories the system service writes: the data
// directory, the log file's directory and a socket directory other than
// /run/vmgenie, which RuntimeDirectory= provides.
func (b *systemdBackend) writableDirs() []string {
	dirs := []string{b.cfg.DataDir, filepath.Dir(b.cfg.Log.File)}
	if b.cfg.Socket != "" && filepath.Dir(b.cfg.Socket) != "/run/vmgenie" {
		dirs = append(dirs, filepath.Dir(b.cfg.Socket))
	}
	return dirs
}

// ensureGroup creates the group that owns the system socket when it does
// not exist, because the service fails to start without it. It returns a
// note for the user when it created the group.
func (b *systemdBackend) ensureGroup(ctx context.Context, group string) (string, error) {
	err := b.lookupGroup(group)
	if err == nil {
		return "", nil
	}
	var unknown user.UnknownGroupError
	if !errors.As(err, &unknown) {
		return "", fmt.Errorf("look up group %q: %w", group, err)
	}
	cmd := exec.CommandContext(ctx, b.groupadd, "--system", group)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("create group %q with %s: %s: %w", group, b.groupadd, strings.TrimSpace(string(out)), err)
	}
	return fmt.Sprintf("Created the system group %q. Members may use the service: add a user with \"usermod -aG %s USER\", then log in again.", group, group), nil
}

func (b *systemdBackend) uninstall(ctx context.Context) error {
	return b.manager.Uninstall(ctx)
}

func (b *systemdBackend) start(ctx context.Context) error {
	return b.manager.Start(ctx)
}

func (b *systemdBackend) stop(ctx context.Context) error {
	return b.manager.Stop(ctx)
}

func (b *systemdBackend) status(ctx context.Context) (serviceStatus, error) {
	st, err := b.manager.Status(ctx)
	if err != nil {
		return serviceStatus{}, err
	}
	manager := "systemd"
	if b.manager.User {
		manager = "systemd --user"
	}
	return serviceStatus{
		Name:      st.Unit,
		Manager:   manager,
		Installed: st.UnitFile != "",
		State:     st.Active,
		Startup:   st.Enabled,
		Path:      st.UnitFile,
	}, nil
}
