//go:build windows

package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/winsvc"
)

// windowsBackend manages the service with the service control manager.
type windowsBackend struct {
	a   *app
	cfg *config.Config
}

func newServiceBackend(a *app, userMode bool) (serviceBackend, error) {
	if userMode {
		return nil, errors.New("--user is for systemd on Linux: on Windows the service always runs as Local System")
	}
	cfg, err := a.loadConfig(false)
	if err != nil {
		return nil, err
	}
	return &windowsBackend{a: a, cfg: cfg}, nil
}

func (b *windowsBackend) install(ctx context.Context) (string, error) {
	exe, err := executablePath()
	if err != nil {
		return "", err
	}
	args, err := serviceArgs(b.a, b.cfg)
	if err != nil {
		return "", err
	}
	args = append([]string{"serve", "--" + windowsServiceFlag}, args...)
	secured, err := secureDataDirs(b.cfg, b.a.log())
	if err != nil {
		return "", err
	}
	warnings, err := winsvc.Install(winsvc.InstallOptions{ExePath: exe, Args: args})
	if err != nil {
		return "", err
	}
	if err := winsvc.Start(ctx); err != nil {
		return "", fmt.Errorf("the service was installed but did not start: %w", err)
	}
	msg := fmt.Sprintf("Installed and started %q (service name %s, automatic start). Its log is %s; start, stop and errors also go to the Event Log.",
		winsvc.DisplayName, winsvc.Name, b.cfg.Log.File)
	for _, dir := range secured {
		msg += fmt.Sprintf("\n%s is now readable by SYSTEM, Administrators and Hyper-V Administrators only.", dir)
	}
	return strings.Join(append([]string{msg}, warnings...), "\n"), nil
}

func (b *windowsBackend) uninstall(ctx context.Context) error {
	return winsvc.Uninstall(ctx)
}

func (b *windowsBackend) start(ctx context.Context) error {
	return winsvc.Start(ctx)
}

func (b *windowsBackend) stop(ctx context.Context) error {
	return winsvc.Stop(ctx)
}

func (b *windowsBackend) status(context.Context) (serviceStatus, error) {
	st, err := winsvc.QueryStatus()
	if err != nil {
		return serviceStatus{}, err
	}
	return serviceStatus{
		Name:      st.Name,
		Manager:   "windows",
		Installed: st.Installed,
		State:     st.State,
		Startup:   st.StartType,
		Path:      st.BinaryPath,
	}, nil
}
