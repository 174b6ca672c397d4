package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/logging"
	"github.com/vmgenie/vmgenie/internal/transport"
)

// loadConfig reads the config file of the mode from --config,
// $VMGENIE_CONFIG or the default path, and keeps it in a.config so that
// serve hooks can read it.
func (a *app) loadConfig(userMode bool) (*config.Config, error) {
	cfg, err := config.Load(config.LoadOptions{Path: a.configPath, UserMode: userMode})
	if err != nil {
		return nil, err
	}
	a.config = cfg
	return cfg, nil
}

// runServeCommand runs serve: in the foreground, logging to the log file
// and to stderr, or with --windows-service under the Windows service
// control manager.
func runServeCommand(cmd *cobra.Command, a *app, flags *serveFlags) error {
	if windowsServiceRequested(cmd) {
		return runWindowsService(cmd, a, flags)
	}
	logger, err := a.setupServe(cmd, flags, a.stderr)
	if err != nil {
		return err
	}
	defer logger.Close()
	return runServe(cmd, a, flags, logger.Logger)
}

// setupServe loads the config file, fills the serve flags that the command
// line did not set from it, and opens the service log: the config's log
// file, console (nil for none) and handlers.
func (a *app) setupServe(cmd *cobra.Command, flags *serveFlags, console io.Writer, handlers ...slog.Handler) (*logging.Logger, error) {
	cfg, err := a.loadConfig(flags.user)
	if err != nil {
		return nil, err
	}
	applyConfig(cmd.Flags(), flags, cfg)

	levelName := cfg.Log.Level
	if flag := cmd.Flag("log-level"); flag != nil && flag.Changed {
		levelName = a.logLevel
	}
	level, err := logging.ParseLevel(levelName)
	if err != nil {
		return nil, fmt.Errorf("invalid --log-level: %w", err)
	}
	logger, err := logging.New(logging.Options{
		Level:        level,
		File:         cfg.Log.File,
		MaxSizeBytes: int64(cfg.Log.MaxSizeMB) << 20,
		MaxFiles:     cfg.Log.MaxFiles,
		Console:      console,
		Handlers:     handlers,
	})
	if err != nil {
		return nil, fmt.Errorf("open the service log (set log.file in the config file to change it): %w", err)
	}
	source := cfg.File
	if source == "" {
		source = "none, defaults apply"
	}
	logger.Info("configuration loaded", "config_file", source, "data_dir", cfg.DataDir,
		"log_file", cfg.Log.File, "driver", cfg.Driver, "user_mode", cfg.UserMode)
	// The service writes private keys into the data directory, so it
	// secures it before it serves, also when "service install" did not run.
	if _, err := secureDataDirs(cfg, logger.Logger); err != nil {
		logger.Close()
		return nil, err
	}
	return logger, nil
}

// applyConfig copies the config file's values into the serve flags that the
// command line did not set. The socket takes, in order: --socket,
// $VMGENIE_SOCKET, the config's socket, the platform default.
func applyConfig(set *pflag.FlagSet, flags *serveFlags, cfg *config.Config) {
	if !set.Changed("socket") && os.Getenv(transport.AddressEnv) == "" && cfg.Socket != "" {
		flags.socket = cfg.Socket
	}
	if !set.Changed("group") && cfg.Group != "" {
		flags.group = cfg.Group
	}
	if !set.Changed("max-request-bytes") {
		flags.maxRequestBytes = cfg.Limits.MaxRequestBytes
	}
	if !set.Changed("request-timeout") {
		flags.requestTimeout = cfg.Limits.RequestTimeout
	}
	if !set.Changed("max-connections") {
		flags.maxConnections = cfg.Limits.MaxConnections
	}
	if !set.Changed("shutdown-timeout") {
		flags.shutdownTimeout = cfg.Limits.ShutdownTimeout
	}
}
