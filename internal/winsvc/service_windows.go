//go:build windows

package winsvc

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sys/windows/svc"
)

// Run runs the service under the service control manager and returns when
// it has stopped. start runs the server until its context is canceled.
// shutdownTimeout is the server's shutdown deadline, which sizes the wait
// hint of the stop. events receives the start, stop and failure events.
// Run must be called from a process that the service control manager
// started; elsewhere it fails at once.
func Run(start func(ctx context.Context) error, shutdownTimeout time.Duration, events EventLog) error {
	return svc.Run(Name, &handler{runner: runner{start: start, shutdownTimeout: shutdownTimeout, events: events}})
}

// handler adapts runner to svc.Handler.
type handler struct {
	runner runner
}

// Execute implements svc.Handler. A stop or shutdown request cancels the
// server; an interrogation gets the last reported status.
func (h *handler) Execute(_ []string, requests <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	stop := make(chan struct{})
	var stopOnce sync.Once
	// This goroutine outlives Execute, blocked on requests, until the
	// process exits after svc.Run returns.
	go func() {
		for request := range requests {
			switch request.Cmd {
			case svc.Interrogate:
				changes <- request.CurrentStatus
			case svc.Stop, svc.Shutdown:
				stopOnce.Do(func() { close(stop) })
			}
		}
	}()

	r := h.runner
	r.report = func(state State, waitHint time.Duration) {
		status := svc.Status{State: svcState(state), WaitHint: uint32(waitHint / time.Millisecond)}
		if state == Running {
			status.Accepts = svc.AcceptStop | svc.AcceptShutdown
		}
		changes <- status
	}
	code := r.run(stop)
	return code != 0, code
}

func svcState(s State) svc.State {
	switch s {
	case StartPending:
		return svc.StartPending
	case Running:
		return svc.Running
	default:
		return svc.StopPending
	}
}
