// Package cli implements the vmgenie command line on spf13/cobra.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/config"
)

// app carries what every command shares: the streams and the global flags.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	logLevel string
	logger   *slog.Logger
	// configPath is the --config flag: the config file to read instead of
	// $VMGENIE_CONFIG or the default path.
	configPath string
	// config is the config file that serve, logs or service loaded, for
	// serve hooks to read. Nil in other commands.
	config *config.Config
}

// commandFactories lists the constructors of the top-level commands.
// Each command file adds its constructor here, in the order shown in help.
var commandFactories []func(*app) *cobra.Command

// Execute runs the command line and returns the process exit code.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCommand(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var exitErr *exitCodeError
	if errors.As(err, &exitErr) {
		if exitErr.err != nil {
			fmt.Fprintf(stderr, "vmgenie: %v\n", exitErr.err)
		}
		return exitErr.code
	}
	fmt.Fprintf(stderr, "vmgenie: %v\n", err)
	return 1
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "vmgenie",
		Short: "Provision Linux VMs from cloud-init templates on Hyper-V and QEMU/KVM",
		Long: `vmgenie renders OS templates into NoCloud seed data, writes it as a seed ISO
(volume label cidata) and provisions VMs from base images with it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(a.stderr, a.logLevel)
			if err != nil {
				return err
			}
			a.logger = logger
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.configPath, "config", "",
		"config file that serve, logs and service read; other commands ignore it (default $VMGENIE_CONFIG, else /etc/vmgenie/config.yml, ~/.config/vmgenie/config.yml with --user, %ProgramData%\\vmgenie\\config.yml on Windows)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn",
		"minimum level of log lines written to stderr: debug, info, warn or error")
	for _, factory := range commandFactories {
		root.AddCommand(factory(a))
	}
	return root
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// exitCodeError makes Execute exit with a given code. A nil err prints nothing.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// logger returns the command's logger, falling back to one on stderr for
// code paths that run before PersistentPreRunE.
func (a *app) log() *slog.Logger {
	if a.logger != nil {
		return a.logger
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
