//go:build windows

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows/svc/eventlog"

	"github.com/vmgenie/vmgenie/internal/winsvc"
)

// windowsServiceFlag selects the Windows service mode. The installed
// service's command line is `"...\vmgenie.exe" serve --windows-service`.
// An explicit flag is used because svc.IsWindowsService misdetects some
// environments, such as containers.
const windowsServiceFlag = "windows-service"

func addServeModeFlags(cmd *cobra.Command) {
	cmd.Flags().Bool(windowsServiceFlag, false,
		"run under the Windows service control manager, as the installed service does; log to the log file and the Event Log instead of stderr")
}

func windowsServiceRequested(cmd *cobra.Command) bool {
	on, err := cmd.Flags().GetBool(windowsServiceFlag)
	return err == nil && on
}

// runWindowsService runs serve as the Windows service: the same server as
// in the foreground, stopped by the service control manager instead of
// Ctrl-C. Errors of the service go to the Event Log as well as the log
// file, because nobody sees its stderr.
func runWindowsService(cmd *cobra.Command, a *app, flags *serveFlags) error {
	events, err := eventlog.Open(winsvc.Name)
	if err != nil {
		return fmt.Errorf("open the Event Log source %s: %w", winsvc.Name, err)
	}
	defer events.Close()

	logger, err := a.setupServe(cmd, flags, nil, winsvc.NewEventHandler(events))
	if err != nil {
		_ = events.Error(winsvc.EventFailed, winsvc.DisplayName+" could not start: "+err.Error())
		return err
	}
	defer logger.Close()

	start := func(ctx context.Context) error {
		cmd.SetContext(ctx)
		return runServe(cmd, a, flags, logger.Logger)
	}
	if err := winsvc.Run(start, flags.shutdownTimeout, events); err != nil {
		return fmt.Errorf("run as a Windows service: %w: --%s works only when the service control manager starts vmgenie; use \"vmgenie service start\", or run \"vmgenie serve\" in the foreground", err, windowsServiceFlag)
	}
	return nil
}
