package cli

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv"
)

func init() { commandFactories = append(commandFactories, newSwitchCommand) }

// switchListTimeout bounds switch list, which starts powershell.exe and
// loads the Hyper-V module.
const switchListTimeout = 2 * time.Minute

// listSwitches lists the host's Hyper-V switches; tests replace it.
var listSwitches = hyperv.ListHostSwitches

func newSwitchCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "switch",
		Short: "Show the Hyper-V virtual switches VMs can connect to",
	}
	cmd.AddCommand(newSwitchListCommand(a))
	return cmd
}

func newSwitchListCommand(a *app) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the Hyper-V virtual switches of this host",
		Long: `List the Hyper-V virtual switches of this host. A VM's switch is chosen by
name or id; the default is the Default Switch, which is found by its id
because Windows translates its name.

The command runs the Hyper-V PowerShell module directly, so it works only on
Windows with Hyper-V enabled, and needs no running service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), switchListTimeout)
			defer cancel()
			switches, err := listSwitches(ctx, a.log())
			if err != nil {
				return err
			}
			return out.print(a.stdout, map[string]any{"switches": switches}, func(t *table) {
				t.header("NAME", "TYPE", "ID", "DEFAULT")
				for _, s := range switches {
					t.row(strconv.Quote(s.Name), s.Type, s.ID, strconv.FormatBool(s.Default))
				}
			})
		},
	}
	out.register(cmd)
	return cmd
}
