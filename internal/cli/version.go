package cli

import (
	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/version"
)

func init() { commandFactories = append(commandFactories, newVersionCommand) }

func newVersionCommand(a *app) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of vmgenie",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			return out.print(a.stdout, info, func(t *table) {
				t.header("VERSION", "COMMIT", "GO", "PLATFORM")
				t.row(info.Version, info.Commit, info.GoVersion, info.Platform)
			})
		},
	}
	out.register(cmd)
	return cmd
}
