package winsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// event is one entry written to fakeEventLog.
type event struct {
	kind string // "info", "warning" or "error"
	id   uint32
	msg  string
}

type fakeEventLog struct {
	mu     sync.Mutex
	events []event
}

func (l *fakeEventLog) add(kind string, id uint32, msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event{kind, id, msg})
	return nil
}

func (l *fakeEventLog) Info(id uint32, msg string) error    { return l.add("info", id, msg) }
func (l *fakeEventLog) Warning(id uint32, msg string) error { return l.add("warning", id, msg) }
func (l *fakeEventLog) Error(id uint32, msg string) error   { return l.add("error", id, msg) }

func (l *fakeEventLog) all() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.events...)
}

// reported is one state change the runner reported.
type reported struct {
	state    State
	waitHint time.Duration
}

// runRunner runs a runner with start and returns its exit code, the
// reported states and the events. stopAfter closes the stop channel after
// that time; a negative value never closes it.
func runRunner(t *testing.T, start func(ctx context.Context) error, stopAfter time.Duration) (uint32, []reported, []event) {
	t.Helper()
	log := &fakeEventLog{}
	var mu sync.Mutex
	var states []reported
	r := runner{
		start:           start,
		shutdownTimeout: 2 * time.Second,
		events:          log,
		report: func(s State, hint time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, reported{s, hint})
		},
	}
	stop := make(chan struct{})
	if stopAfter >= 0 {
		time.AfterFunc(stopAfter, func() { close(stop) })
	}
	done := make(chan uint32, 1)
	go func() { done <- r.run(stop) }()
	select {
	case code := <-done:
		mu.Lock()
		defer mu.Unlock()
		return code, states, log.all()
	case <-time.After(30 * time.Second):
		t.Fatal("runner did not return")
		return 0, nil, nil
	}
}

func stateList(states []reported) string {
	var names []string
	for _, s := range states {
		names = append(names, s.state.String())
	}
	return strings.Join(names, ", ")
}

func TestRunnerStopsOnRequest(t *testing.T) {
	var sawCancel bool
	code, states, events := runRunner(t, func(ctx context.Context) error {
		<-ctx.Done()
		sawCancel = true
		return nil
	}, 20*time.Millisecond)

	if code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if !sawCancel {
		t.Error("the server's context was not canceled")
	}
	if got := stateList(states); got != "start pending, running, stop pending" {
		t.Errorf("states = %s, want start pending, running, stop pending", got)
	}
	if len(states) == 3 && states[2].waitHint != 7*time.Second {
		t.Errorf("stop wait hint = %s, want the 2s shutdown timeout plus 5s", states[2].waitHint)
	}
	want := []event{{"info", EventStarted, "VmGenie Service started."}, {"info", EventStopped, "VmGenie Service stopped."}}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("events = %v, want %v", events, want)
	}
}

func TestRunnerServerFailsAtStart(t *testing.T) {
	code, states, events := runRunner(t, func(context.Context) error {
		return errors.New(`creating pipe \\.\pipe\vmgenie failed: access denied`)
	}, -1)

	if code != ExitFailure {
		t.Errorf("exit code = %d, want %d so that recovery restarts the service", code, ExitFailure)
	}
	if got := stateList(states); got != "start pending, running" {
		t.Errorf("states = %s, want start pending, running", got)
	}
	last := events[len(events)-1]
	if last.kind != "error" || last.id != EventFailed || !strings.Contains(last.msg, "stopped unexpectedly: creating pipe") {
		t.Errorf("last event = %+v, want a failure event with the server's error", last)
	}
}

func TestRunnerServerReturnsWithoutStop(t *testing.T) {
	code, _, events := runRunner(t, func(context.Context) error { return nil }, -1)
	if code != ExitFailure {
		t.Errorf("exit code = %d, want %d", code, ExitFailure)
	}
	if last := events[len(events)-1]; !strings.Contains(last.msg, "returned without a stop request") {
		t.Errorf("last event = %+v, want it to say the server returned on its own", last)
	}
}

func TestRunnerServerFailsWhileStopping(t *testing.T) {
	code, _, events := runRunner(t, func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("closing the listener failed")
	}, 10*time.Millisecond)
	if code != ExitFailure {
		t.Errorf("exit code = %d, want %d", code, ExitFailure)
	}
	if last := events[len(events)-1]; last.kind != "error" || !strings.Contains(last.msg, "failed while stopping: closing the listener failed") {
		t.Errorf("last event = %+v, want the stop failure", last)
	}
}

func TestRunnerServerIgnoresStop(t *testing.T) {
	old := stopMargin
	stopMargin = 10 * time.Millisecond
	defer func() { stopMargin = old }()

	release := make(chan struct{})
	defer close(release)
	log := &fakeEventLog{}
	r := runner{
		start:           func(context.Context) error { <-release; return nil },
		shutdownTimeout: 10 * time.Millisecond,
		events:          log,
		report:          func(State, time.Duration) {},
	}
	stop := make(chan struct{})
	close(stop)
	if code := r.run(stop); code != ExitFailure {
		t.Errorf("exit code = %d, want %d", code, ExitFailure)
	}
	events := log.all()
	if last := events[len(events)-1]; !strings.Contains(last.msg, "did not stop within 20ms") {
		t.Errorf("last event = %+v, want the stop timeout", last)
	}
}

func TestEventHandlerWritesErrorsOnly(t *testing.T) {
	log := &fakeEventLog{}
	logger := slog.New(NewEventHandler(log))
	logger.Info("request", "id", "abc")
	logger.Warn("slow client", "id", "def")
	logger.Error("provision failed", "vm", "web1", "password", "hunter2", "err", errors.New("disk full"))

	events := log.all()
	if len(events) != 1 {
		t.Fatalf("events = %v, want only the error", events)
	}
	e := events[0]
	if e.kind != "error" || e.id != EventLogError {
		t.Errorf("event kind %s id %d, want error %d", e.kind, e.id, EventLogError)
	}
	want := `msg="provision failed" vm=web1 password=[REDACTED] err="disk full"`
	if e.msg != want {
		t.Errorf("event message = %q, want %q (no time, no level, secrets redacted)", e.msg, want)
	}
}

func TestEventHandlerKeepsAttrsAndGroups(t *testing.T) {
	log := &fakeEventLog{}
	logger := slog.New(NewEventHandler(log)).With("component", "service").WithGroup("request")
	logger.Error("failed", "id", "abc", "token", "t-1")
	events := log.all()
	want := `msg=failed component=service request.id=abc request.token=[REDACTED]`
	if len(events) != 1 || events[0].msg != want {
		t.Errorf("events = %v, want one with %q", events, want)
	}
}

func TestEventHandlerRateLimit(t *testing.T) {
	log := &fakeEventLog{}
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	logger := slog.New(newEventHandler(log, clock))

	for i := range eventBurst + 5 {
		logger.Error("repeating failure", "i", i)
	}
	if n := len(log.all()); n != eventBurst {
		t.Fatalf("wrote %d events in one window, want %d", n, eventBurst)
	}

	now = now.Add(eventWindow)
	logger.Error("after the window")
	events := log.all()
	if len(events) != eventBurst+2 {
		t.Fatalf("wrote %d events, want %d: the burst, the count, the new error", len(events), eventBurst+2)
	}
	notice := events[eventBurst]
	if notice.kind != "warning" || notice.id != EventSuppressed || !strings.HasPrefix(notice.msg, "5 further errors were not written") {
		t.Errorf("notice = %+v, want a warning that counts 5 suppressed errors", notice)
	}
	if last := events[eventBurst+1]; last.msg != `msg="after the window"` {
		t.Errorf("last event = %+v, want the new error", last)
	}
}
