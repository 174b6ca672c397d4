//go:build !windows

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// addServeModeFlags adds nothing outside Windows, where serve runs only in
// the foreground or under a service manager that needs no special mode.
func addServeModeFlags(*cobra.Command) {}

func windowsServiceRequested(*cobra.Command) bool { return false }

func runWindowsService(*cobra.Command, *app, *serveFlags) error {
	return errors.New("the Windows service mode exists only on Windows")
}
