package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/logging"
)

func init() { commandFactories = append(commandFactories, newLogsCommand) }

// defaultLogLines is the number of lines "vmgenie logs" prints without -n.
const defaultLogLines = 50

func newLogsCommand(a *app) *cobra.Command {
	var (
		follow bool
		lines  int
		user   bool
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Print or follow the service's log file",
		Long: `Print the last lines of the service's log file, which log.file in the config
file names (default <data_dir>/logs/vmgenie.log). When the current file has
fewer lines than asked, the rotated files (vmgenie.log.1 is the newest) supply
the rest.

With -f, keep printing lines as the service writes them, across rotations,
until Ctrl-C. On Unix the log file has mode 0600, so reading the system
service's log needs root.`,
		Example: `  vmgenie logs -n 100
  sudo vmgenie logs -f
  vmgenie logs --user -f -n 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lines < 0 {
				return fmt.Errorf("invalid -n %d: use 0 or more lines", lines)
			}
			cfg, err := a.loadConfig(user)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return logging.Tail(ctx, a.stdout, logging.TailOptions{
				Path:       cfg.Log.File,
				Lines:      lines,
				MaxBackups: cfg.Log.MaxFiles,
				Follow:     follow,
				OnWait: func(path string) {
					fmt.Fprintf(a.stderr, "vmgenie: waiting for %s to be created\n", path)
				},
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until Ctrl-C, across log rotations")
	cmd.Flags().IntVarP(&lines, "lines", "n", defaultLogLines, "number of last lines to print first")
	cmd.Flags().BoolVar(&user, "user", false, "read the log of the per-user service (the user config and data directory)")
	return cmd
}
