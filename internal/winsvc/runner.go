// Package winsvc runs vmgenie as the Windows service "VmGenie Service" and
// installs, starts, stops and removes it, with golang.org/x/sys/windows/svc,
// svc/mgr and svc/eventlog. The service's start, stop and errors go to the
// Windows Event Log.
//
// The run loop and the Event Log handler for log/slog are platform-neutral
// so that their logic is tested on every platform. Only the adapters to the
// service control manager are built for Windows alone.
package winsvc

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Service identity in the service control manager and the Event Log.
const (
	Name        = "vmgenie"
	DisplayName = "VmGenie Service"
	Description = "Provisions Linux VMs on Hyper-V from cloud-init templates. Clients connect to the named pipe \\\\.\\pipe\\vmgenie."
)

// Event IDs written to the Event Log. The event source is registered with
// EventCreate.exe as its message file, which accepts IDs 1 to 1000.
const (
	EventStarted    = 1
	EventStopped    = 2
	EventFailed     = 3
	EventLogError   = 10
	EventSuppressed = 11
)

// EventLog is the part of *eventlog.Log that the service uses.
type EventLog interface {
	Info(eventID uint32, msg string) error
	Warning(eventID uint32, msg string) error
	Error(eventID uint32, msg string) error
}

// State is a service state reported to the service control manager. The
// final state, stopped, is reported by svc.Run with the exit code.
type State int

// The states the runner reports, in the order they occur.
const (
	StartPending State = iota
	Running
	StopPending
)

func (s State) String() string {
	switch s {
	case StartPending:
		return "start pending"
	case Running:
		return "running"
	case StopPending:
		return "stop pending"
	}
	return fmt.Sprintf("state %d", int(s))
}

// ExitFailure is the service-specific exit code of a failed run. A non-zero
// code makes the service control manager run the recovery actions, because
// Install turns on recovery for non-crash failures.
const ExitFailure = 1

// stopMargin is added to the shutdown timeout in the stop wait hint and
// in the bound on waiting for the server to return. Tests shorten it.
var stopMargin = 5 * time.Second

// runner runs the server for the service control manager: it reports the
// states, cancels the server on a stop request, and writes start, stop and
// failure events.
type runner struct {
	// start runs the server until ctx is canceled, like "vmgenie serve".
	start func(ctx context.Context) error
	// shutdownTimeout is the server's own shutdown deadline.
	shutdownTimeout time.Duration
	events          EventLog
	// report tells the service control manager the state. waitHint is how
	// long the pending state may last.
	report func(state State, waitHint time.Duration)
}

// run starts the server and returns when it has stopped: after a request
// on stop, or by itself, which is a failure. It returns the exit code, 0 or
// ExitFailure.
func (r *runner) run(stop <-chan struct{}) uint32 {
	r.report(StartPending, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.start(ctx) }()

	r.report(Running, 0)
	_ = r.events.Info(EventStarted, DisplayName+" started.")

	select {
	case err := <-done:
		if err == nil {
			err = errors.New("the server returned without a stop request")
		}
		return r.fail(fmt.Errorf("%s stopped unexpectedly: %w", DisplayName, err))
	case <-stop:
	}

	wait := r.shutdownTimeout + stopMargin
	r.report(StopPending, wait)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			return r.fail(fmt.Errorf("%s failed while stopping: %w", DisplayName, err))
		}
	case <-time.After(wait):
		return r.fail(fmt.Errorf("%s did not stop within %s: in-flight requests were abandoned", DisplayName, wait))
	}
	_ = r.events.Info(EventStopped, DisplayName+" stopped.")
	return 0
}

func (r *runner) fail(err error) uint32 {
	_ = r.events.Error(EventFailed, err.Error())
	return ExitFailure
}
