package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/service"
)

func init() { commandFactories = append(commandFactories, newStatusCommand) }

// statusTimeout bounds the status round trip, so a hung service is reported
// instead of waited on.
const statusTimeout = 10 * time.Second

func newStatusCommand(a *app) *cobra.Command {
	var out outputFlag
	var target serviceFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the state of the vmgenie service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
			defer cancel()
			resp, err := target.client().Call(ctx, "status", nil)
			if err != nil {
				return err
			}
			var data service.StatusData
			if err := json.Unmarshal(resp.Data, &data); err != nil {
				return fmt.Errorf("reading the status response failed: %w; response data: %s", err, resp.Data)
			}
			return out.print(a.stdout, json.RawMessage(resp.Data), func(t *table) {
				t.header("STATUS", "VERSION", "PROTOCOL", "UPTIME", "DRIVER", "PLATFORM", "PID", "OPERATIONS")
				t.row(data.Details, data.Version, strconv.Itoa(data.ProtocolVersion), data.Uptime,
					data.Driver, data.Platform, strconv.Itoa(data.PID), strconv.Itoa(data.OperationsRunning))
			})
		},
	}
	out.register(cmd)
	target.register(cmd)
	return cmd
}
