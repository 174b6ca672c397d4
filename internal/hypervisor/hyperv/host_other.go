//go:build !windows

package hyperv

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

// NewPowerShellHost fails: powershell.exe and Hyper-V exist only on Windows.
func NewPowerShellHost(*slog.Logger) (*pshost.Host, error) {
	return nil, fmt.Errorf("%w; this host runs %s, so use the qemu driver", ErrNotWindows, runtime.GOOS)
}

// ListHostSwitches fails: Hyper-V switches exist only on Windows.
func ListHostSwitches(context.Context, *slog.Logger) ([]Switch, error) {
	return nil, fmt.Errorf("Hyper-V switches exist only on Windows, and this host runs %s: %w", runtime.GOOS, ErrNotWindows)
}
