//go:build !windows

package hyperv

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

// notWindowsError is an error that matches ErrNotWindows and carries its
// own message.
type notWindowsError struct{ msg string }

func (e *notWindowsError) Error() string        { return e.msg }
func (e *notWindowsError) Is(target error) bool { return target == ErrNotWindows }

// NewPowerShellHost fails: powershell.exe and Hyper-V exist only on Windows.
func NewPowerShellHost(*slog.Logger) (*pshost.Host, error) {
	return nil, &notWindowsError{"the Hyper-V driver runs only on Windows, and this host runs " + runtime.GOOS + "; use the qemu driver"}
}

// ListHostSwitches fails: Hyper-V switches exist only on Windows.
func ListHostSwitches(context.Context, *slog.Logger) ([]Switch, error) {
	return nil, &notWindowsError{"Hyper-V switches exist only on Windows, and this host runs " + runtime.GOOS +
		"; VMs on the qemu driver use QEMU user networking and need no switch"}
}
