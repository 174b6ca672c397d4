//go:build windows

package hyperv

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

// powerShellPath returns Windows PowerShell 5.1's powershell.exe under
// %SystemRoot%, so that a powershell.exe earlier on PATH cannot stand in.
func powerShellPath() (string, error) {
	if root := os.Getenv("SystemRoot"); root != "" {
		p := filepath.Join(root, "System32", "WindowsPowerShell", "v1.0", "powershell.exe")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("powershell.exe")
}

// NewPowerShellHost returns a Host that runs the scripts in powershell.exe.
func NewPowerShellHost(logger *slog.Logger) (*pshost.Host, error) {
	path, err := powerShellPath()
	if err != nil {
		return nil, err
	}
	return pshost.New(pshost.Config{Starter: pshost.ExecStarter{Path: path}, Logger: logger})
}

// ListHostSwitches lists this host's virtual switches through a PowerShell
// host of its own.
func ListHostSwitches(ctx context.Context, logger *slog.Logger) ([]Switch, error) {
	host, err := NewPowerShellHost(logger)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	return ListSwitches(ctx, host)
}
