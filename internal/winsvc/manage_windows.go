//go:build windows

package winsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// Recovery after a failure: restart after 5 s, then 30 s, then 2 min for
// every later failure, and forget failures after a day without one.
var (
	recoveryActions = []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 2 * time.Minute},
	}
	recoveryResetPeriod = 24 * time.Hour
)

// pollInterval is how often Start and Stop query the state they wait for.
const pollInterval = 250 * time.Millisecond

// InstallOptions describes the service to install.
type InstallOptions struct {
	// ExePath is the absolute path of vmgenie.exe.
	ExePath string
	// Args follow ExePath on the service's command line, such as
	// ["serve", "--windows-service"]. mgr quotes each one.
	Args []string
}

// Install registers the service with automatic start, its description and
// its recovery actions, and registers the Event Log source. On an error it
// removes what it registered. It returns warnings about settings that the
// system did not accept while the service works without them.
func Install(opts InstallOptions) (warnings []string, err error) {
	m, err := connect()
	if err != nil {
		return nil, err
	}
	defer m.Disconnect()

	if s, err := m.OpenService(Name); err == nil {
		s.Close()
		return nil, fmt.Errorf("service %s is already installed: run \"vmgenie service uninstall\" first to reinstall it", Name)
	}

	s, err := m.CreateService(Name, opts.ExePath, mgr.Config{
		DisplayName:  DisplayName,
		Description:  Description,
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}, opts.Args...)
	if err != nil {
		return nil, fmt.Errorf("create service %s: %w", Name, err)
	}
	defer s.Close()
	defer func() {
		if err != nil {
			if deleteErr := s.Delete(); deleteErr != nil {
				err = errors.Join(err, fmt.Errorf("remove the half-installed service %s: %w", Name, deleteErr))
			}
		}
	}()

	if err := s.SetRecoveryActions(recoveryActions, uint32(recoveryResetPeriod/time.Second)); err != nil {
		return nil, fmt.Errorf("set recovery actions of service %s: %w", Name, err)
	}
	// Without this flag the recovery actions run only when the process
	// dies; with it they also run when the service stops with an error.
	// Windows has it since Vista; Wine 8.0 rejects it ("Invalid level").
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		warnings = append(warnings, fmt.Sprintf("The system did not accept recovery on non-crash failures (%v): the service is restarted only when its process crashes.", err))
	}
	if err := installEventSource(); err != nil {
		return nil, err
	}
	return warnings, nil
}

// installEventSource registers the Event Log source, replacing one left by
// an earlier install.
func installEventSource() error {
	const supported = eventlog.Error | eventlog.Warning | eventlog.Info
	err := eventlog.InstallAsEventCreate(Name, supported)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		if removeErr := eventlog.Remove(Name); removeErr != nil {
			return fmt.Errorf("replace Event Log source %s: %w", Name, removeErr)
		}
		err = eventlog.InstallAsEventCreate(Name, supported)
	}
	if err != nil {
		return fmt.Errorf("register Event Log source %s: %w", Name, err)
	}
	return nil
}

// Uninstall stops the service if it runs, removes it, and removes the
// Event Log source. A service that is not installed is an error.
func Uninstall(ctx context.Context) error {
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()

	s, err := m.OpenService(Name)
	if err != nil {
		return fmt.Errorf("open service %s: is it installed? %w", Name, err)
	}
	defer s.Close()

	if err := stopAndWait(ctx, s); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("remove service %s: %w", Name, err)
	}
	if err := eventlog.Remove(Name); err != nil {
		return fmt.Errorf("remove Event Log source %s (the service itself was removed): %w", Name, err)
	}
	return nil
}

// Start starts the service and waits until it runs or stops again.
func Start(ctx context.Context) error {
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return fmt.Errorf("open service %s: install it with \"vmgenie service install\": %w", Name, err)
	}
	defer s.Close()

	if err := s.Start(); err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return nil
		}
		return fmt.Errorf("start service %s: %w", Name, err)
	}
	status, err := waitForState(ctx, s, func(st svc.State) bool { return st == svc.Running || st == svc.Stopped })
	if err != nil {
		return err
	}
	if status.State == svc.Stopped {
		return fmt.Errorf("service %s stopped right after it started (exit code %d, service code %d): see the Windows Event Log (source %s) and the log file in the data directory",
			Name, status.Win32ExitCode, status.ServiceSpecificExitCode, Name)
	}
	return nil
}

// Stop stops the service and waits until it has stopped.
func Stop(ctx context.Context) error {
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return fmt.Errorf("open service %s: is it installed? %w", Name, err)
	}
	defer s.Close()
	return stopAndWait(ctx, s)
}

// stopAndWait asks a running service to stop and waits until it has.
func stopAndWait(ctx context.Context, s *mgr.Service) error {
	status, err := s.Query()
	if err != nil {
		return fmt.Errorf("query service %s: %w", Name, err)
	}
	if status.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("stop service %s: %w", Name, err)
	}
	_, err = waitForState(ctx, s, func(st svc.State) bool { return st == svc.Stopped })
	return err
}

// waitForState polls the service until done accepts its state or ctx ends.
func waitForState(ctx context.Context, s *mgr.Service, done func(svc.State) bool) (svc.Status, error) {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		status, err := s.Query()
		if err != nil {
			return status, fmt.Errorf("query service %s: %w", Name, err)
		}
		if done(status.State) {
			return status, nil
		}
		select {
		case <-ctx.Done():
			return status, fmt.Errorf("timed out waiting for service %s, which is %s: %w", Name, stateName(status.State), ctx.Err())
		case <-ticker.C:
		}
	}
}

// QueryStatus reports the service's state and configuration. It needs only
// the right to query, which every user has, not an elevated prompt.
func QueryStatus() (Status, error) {
	st := Status{Name: Name, DisplayName: DisplayName, State: "not installed"}
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return st, fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer windows.CloseServiceHandle(scm)

	name, err := windows.UTF16PtrFromString(Name)
	if err != nil {
		return st, err
	}
	h, err := windows.OpenService(scm, name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("open service %s: %w", Name, err)
	}
	s := &mgr.Service{Name: Name, Handle: h}
	defer s.Close()

	st.Installed = true
	status, err := s.Query()
	if err != nil {
		return st, fmt.Errorf("query service %s: %w", Name, err)
	}
	st.State, st.PID = stateName(status.State), status.ProcessId
	if err := queryBasicConfig(h, &st); err != nil {
		return st, fmt.Errorf("read the configuration of service %s: %w", Name, err)
	}
	return st, nil
}

// queryBasicConfig sets the display name, command line and start type from
// QueryServiceConfig. mgr's Service.Config also asks QueryServiceConfig2
// for the description and more, which Wine 8.0 rejects, and status needs
// none of that.
func queryBasicConfig(h windows.Handle, st *Status) error {
	size := uint32(1024)
	for {
		buf := make([]byte, size)
		cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
		err := windows.QueryServiceConfig(h, cfg, size, &size)
		if errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) && size > uint32(len(buf)) {
			continue
		}
		if err != nil {
			return err
		}
		st.DisplayName = windows.UTF16PtrToString(cfg.DisplayName)
		st.BinaryPath = windows.UTF16PtrToString(cfg.BinaryPathName)
		st.StartType = startTypeName(cfg.StartType)
		return nil
	}
}

// connect opens the service control manager with the rights to change
// services, which needs an elevated prompt.
func connect() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, fmt.Errorf("connect to the service control manager: access denied: run this command from an elevated prompt (Run as administrator): %w", err)
		}
		return nil, fmt.Errorf("connect to the service control manager: %w", err)
	}
	return m, nil
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "start pending"
	case svc.StopPending:
		return "stop pending"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continue pending"
	case svc.PausePending:
		return "pause pending"
	case svc.Paused:
		return "paused"
	}
	return fmt.Sprintf("state %d", s)
}

func startTypeName(t uint32) string {
	switch t {
	case mgr.StartAutomatic:
		return "automatic"
	case mgr.StartManual:
		return "manual"
	case mgr.StartDisabled:
		return "disabled"
	}
	return fmt.Sprintf("start type %d", t)
}
