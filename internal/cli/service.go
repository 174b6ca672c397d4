package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/config"
)

func init() { commandFactories = append(commandFactories, newServiceCommand) }

// serviceTimeout bounds each service manager command, including the wait
// for a start or stop to finish.
const serviceTimeout = 2 * time.Minute

// serviceStatus is what "vmgenie service status" prints.
type serviceStatus struct {
	Name string `json:"name"`
	// Manager is "systemd", "systemd --user" or "windows".
	Manager   string `json:"manager"`
	Installed bool   `json:"installed"`
	// State is the manager's word: "active" or "inactive" for systemd,
	// "running" or "stopped" for Windows.
	State string `json:"state"`
	// Startup is "enabled" or "disabled" for systemd, "automatic",
	// "manual" or "disabled" for Windows.
	Startup string `json:"startup"`
	// Path is the unit file, or the Windows service's command line.
	Path string `json:"path"`
}

// serviceBackend installs and controls the service with the platform's
// service manager.
type serviceBackend interface {
	// install registers and starts the service, and returns what it did
	// for the user to read.
	install(ctx context.Context) (string, error)
	uninstall(ctx context.Context) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	status(ctx context.Context) (serviceStatus, error)
}

func newServiceCommand(a *app) *cobra.Command {
	var user bool
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove, start, stop or check the vmgenie background service",
		Long: `Manage vmgenie as a background service of the operating system.

On Linux, install writes the systemd unit vmgenie.service (with --user, a
user unit in ~/.config/systemd/user) and enables and starts it. On Windows,
install registers the "VmGenie Service" with automatic start and restart
after failures. macOS is not supported yet: run "vmgenie serve".

The service reads the same config file as "vmgenie serve". A --config given
to install is written into the service's command line.`,
	}
	cmd.PersistentFlags().BoolVar(&user, "user", false, "manage the per-user systemd unit instead of the system service (Linux)")

	backend := func() (serviceBackend, error) { return newServiceBackend(a, user) }
	run := func(action func(context.Context, serviceBackend) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			b, err := backend()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), serviceTimeout)
			defer cancel()
			return action(ctx, b)
		}
	}

	cmd.AddCommand(
		&cobra.Command{
			Use:   "install",
			Short: "Install the service, enable it at boot, and start it",
			Args:  cobra.NoArgs,
			RunE: run(func(ctx context.Context, b serviceBackend) error {
				msg, err := b.install(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, msg)
				return nil
			}),
		},
		&cobra.Command{
			Use:   "uninstall",
			Short: "Stop the service and remove it",
			Args:  cobra.NoArgs,
			RunE: run(func(ctx context.Context, b serviceBackend) error {
				if err := b.uninstall(ctx); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "Service removed.")
				return nil
			}),
		},
		&cobra.Command{
			Use:   "start",
			Short: "Start the installed service",
			Args:  cobra.NoArgs,
			RunE: run(func(ctx context.Context, b serviceBackend) error {
				if err := b.start(ctx); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "Service started.")
				return nil
			}),
		},
		&cobra.Command{
			Use:   "stop",
			Short: "Stop the service; in-flight requests get the shutdown timeout to finish",
			Args:  cobra.NoArgs,
			RunE: run(func(ctx context.Context, b serviceBackend) error {
				if err := b.stop(ctx); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "Service stopped.")
				return nil
			}),
		},
		newServiceStatusCommand(a, run),
	)
	return cmd
}

func newServiceStatusCommand(a *app, run func(func(context.Context, serviceBackend) error) func(*cobra.Command, []string) error) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the service is installed, enabled and running",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, b serviceBackend) error {
			st, err := b.status(ctx)
			if err != nil {
				return err
			}
			return out.print(a.stdout, st, func(t *table) {
				t.header("NAME", "MANAGER", "INSTALLED", "STATE", "STARTUP", "PATH")
				t.row(st.Name, st.Manager, strconv.FormatBool(st.Installed), st.State, st.Startup, st.Path)
			})
		}),
	}
	out.register(cmd)
	return cmd
}

// serviceArgs returns the arguments that follow "serve" in the service's
// command line: --config with an absolute path when the user chose the
// file with --config or $VMGENIE_CONFIG, since the service manager does not
// pass on either.
func serviceArgs(a *app, cfg *config.Config) ([]string, error) {
	if a.configPath == "" && os.Getenv(config.EnvConfig) == "" {
		return nil, nil
	}
	path, err := filepath.Abs(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("make config path %s absolute: %w", cfg.File, err)
	}
	return []string{"--config", path}, nil
}

// executablePath returns the absolute path of the running vmgenie binary,
// with symbolic links resolved, for the service's command line.
func executablePath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the path of the vmgenie binary: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return "", fmt.Errorf("resolve the path of the vmgenie binary %s: %w", exe, err)
	}
	return resolved, nil
}
