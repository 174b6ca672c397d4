package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
)

// OperationState is the phase of an operation: running, or one of the
// final states.
type OperationState string

// Operation states. Every state but running is final.
const (
	StateRunning   OperationState = "running"
	StateSucceeded OperationState = "succeeded"
	StateFailed    OperationState = "failed"
	StateCanceled  OperationState = "canceled"
)

// maxFinishedOperations caps how many finished operations are kept, on top
// of the retention time, so a busy service cannot grow without bound.
const maxFinishedOperations = 1000

// maxProgressEvents caps the progress events kept per operation for
// followers that fall behind.
const maxProgressEvents = 256

// cleanupGrace is how long canceled operations get to clean up at shutdown.
const cleanupGrace = 5 * time.Second

// OperationInfo is a snapshot of an operation, as operation.get returns it.
type OperationInfo struct {
	ID string `json:"operation_id"`
	// Kind is the command that started it, such as "provision".
	Kind string `json:"kind"`
	// Target is the VM the operation works on.
	Target  string         `json:"target"`
	State   OperationState `json:"state"`
	Stage   string         `json:"stage"`
	Message string         `json:"message"`
	Percent int            `json:"percent"`
	// Result is the work's result once it succeeded.
	Result any `json:"result,omitempty"`
	// Error is set once the operation failed or was canceled.
	Error      *protocol.Error `json:"error,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// Done reports whether the operation has reached a final state.
func (i OperationInfo) Done() bool { return i.State != StateRunning }

type operationIDKey struct{}

// OperationID returns the id of the operation whose Work received ctx, or ""
// outside an operation.
func OperationID(ctx context.Context) string {
	id, _ := ctx.Value(operationIDKey{}).(string)
	return id
}

// Work is the body of an operation. It reports progress through progress
// and returns a JSON-encodable result. It must return soon after ctx is
// canceled, having removed what it made.
type Work func(ctx context.Context, progress func(protocol.Progress)) (any, error)

// operation is the registry's record; info is guarded by Operations.mu.
type operation struct {
	info     OperationInfo
	cancel   context.CancelFunc
	canceled string // reason passed to Cancel, or empty
	changed  chan struct{}
	// events holds the latest progress events; eventCount counts all ever
	// recorded, so events[0] is event number eventCount-len(events).
	events     []protocol.Progress
	eventCount int
	done       chan struct{}
}

// holder is the work that keeps a target busy: an operation or a
// synchronous command.
type holder struct {
	description string
	operation   *operation
	since       time.Time
}

// Operations runs asynchronous operations and serializes work per target
// (a VM name): while one operation or held command runs on a target, any
// other gets conflict at once.
type Operations struct {
	log       *slog.Logger
	retention time.Duration
	now       func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	byID     map[string]*operation
	busy     map[string]*holder
	stopping bool // set at shutdown: Start fails from then on
}

func newOperations(retention time.Duration, log *slog.Logger) *Operations {
	ctx, cancel := context.WithCancel(context.Background())
	return &Operations{
		log:       log,
		retention: retention,
		now:       time.Now,
		ctx:       ctx,
		cancel:    cancel,
		byID:      map[string]*operation{},
		busy:      map[string]*holder{},
	}
}

// Start runs work in the background as an operation of kind on target. It
// returns a conflict error, naming what runs, when target is busy.
func (o *Operations) Start(kind, target string, work Work) (OperationInfo, error) {
	id, err := newOperationID()
	if err != nil {
		return OperationInfo{}, err
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	o.pruneLocked()
	if err := o.checkFreeLocked(target); err != nil {
		return OperationInfo{}, err
	}
	if o.stopping {
		return OperationInfo{}, protocol.Errorf(protocol.CodeUnavailable, "the service is stopping, so no new operation can start: retry after it restarts")
	}

	ctx, cancel := context.WithCancel(context.WithValue(o.ctx, operationIDKey{}, id))
	op := &operation{
		info: OperationInfo{
			ID: id, Kind: kind, Target: target, State: StateRunning,
			Stage: "queued", Message: "Waiting to start.", StartedAt: o.now(),
		},
		cancel:  cancel,
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	o.recordLocked(op, protocol.Progress{Stage: op.info.Stage, Message: op.info.Message, OperationID: id})
	o.byID[id] = op
	o.busy[target] = &holder{description: kind, operation: op, since: op.info.StartedAt}
	o.log.Info("operation started", "operation_id", id, "kind", kind, "target", target)

	o.wg.Add(1)
	go o.run(ctx, op, work)
	return op.info, nil
}

// Hold marks target busy for a synchronous command (such as "vm.stop")
// until release is called. It returns conflict when target is
// busy.
func (o *Operations) Hold(target, command string) (release func(), err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.checkFreeLocked(target); err != nil {
		return nil, err
	}
	h := &holder{description: command, since: o.now()}
	o.busy[target] = h
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.busy[target] == h {
				delete(o.busy, target)
			}
		})
	}, nil
}

func (o *Operations) checkFreeLocked(target string) error {
	h, busy := o.busy[target]
	if !busy {
		return nil
	}
	elapsed := o.now().Sub(h.since).Round(time.Second)
	if h.operation == nil {
		return protocol.Errorf(protocol.CodeConflict,
			"VM '%s' is busy: command %s has been running for %s; retry when it has finished", target, h.description, elapsed)
	}
	info := h.operation.info
	return protocol.Errorf(protocol.CodeConflict,
		"VM '%s' is busy: operation %s (%s) has been running for %s and is at stage %q (%d%%); wait for it with operation.get or stop it with operation.cancel",
		target, info.ID, info.Kind, elapsed, info.Stage, info.Percent)
}

func (o *Operations) run(ctx context.Context, op *operation, work Work) {
	defer o.wg.Done()
	defer close(op.done)

	progress := func(p protocol.Progress) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if op.info.Done() {
			return
		}
		p.Percent = min(max(p.Percent, 0), 100)
		p.OperationID = op.info.ID
		op.info.Stage, op.info.Message, op.info.Percent = p.Stage, p.Message, p.Percent
		o.recordLocked(op, p)
	}

	result, err := runWork(ctx, work, progress)

	o.mu.Lock()
	defer o.mu.Unlock()
	finished := o.now()
	op.info.FinishedAt = &finished
	switch {
	case err == nil:
		op.info.State = StateSucceeded
		op.info.Result = result
		op.info.Stage, op.info.Message, op.info.Percent = "done", "Finished.", 100
	case op.canceled != "" && ctx.Err() != nil:
		op.info.State = StateCanceled
		op.info.Error = protocol.Errorf(protocol.CodeUnavailable, "operation %s was canceled at stage %q: %s", op.info.ID, op.info.Stage, op.canceled)
	default:
		op.info.State = StateFailed
		op.info.Error = protocol.AsError(err)
	}
	if h := o.busy[op.info.Target]; h != nil && h.operation == op {
		delete(o.busy, op.info.Target)
	}
	op.cancel()
	o.notifyLocked(op)

	attrs := []any{"operation_id", op.info.ID, "kind", op.info.Kind, "target", op.info.Target,
		"state", string(op.info.State), "duration", finished.Sub(op.info.StartedAt).String()}
	if op.info.Error != nil {
		attrs = append(attrs, "code", string(op.info.Error.Code), "error", op.info.Error.Message)
		o.log.Warn("operation finished", attrs...)
		return
	}
	o.log.Info("operation finished", attrs...)
}

// runWork calls work and turns a panic into an error, so one bad operation
// cannot stop the service.
func runWork(ctx context.Context, work Work, progress func(protocol.Progress)) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = protocol.Errorf(protocol.CodeInternal, "the operation failed with a panic: %v; this is a bug", r)
		}
	}()
	return work(ctx, progress)
}

// recordLocked appends a progress event and wakes the followers.
func (o *Operations) recordLocked(op *operation, p protocol.Progress) {
	op.events = append(op.events, p)
	if len(op.events) > maxProgressEvents {
		op.events = op.events[len(op.events)-maxProgressEvents:]
	}
	op.eventCount++
	o.notifyLocked(op)
}

func (o *Operations) notifyLocked(op *operation) {
	close(op.changed)
	op.changed = make(chan struct{})
}

// Get returns a snapshot of operation id.
func (o *Operations) Get(id string) (OperationInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pruneLocked()
	op, ok := o.byID[id]
	if !ok {
		return OperationInfo{}, o.notFound(id)
	}
	return op.info, nil
}

func (o *Operations) notFound(id string) error {
	return protocol.Errorf(protocol.CodeNotFound,
		"operation %q not found: check the id; finished operations are kept for %s", id, o.retention)
}

// List returns every known operation, newest first.
func (o *Operations) List() []OperationInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pruneLocked()
	list := make([]OperationInfo, 0, len(o.byID))
	for _, op := range o.byID {
		list = append(list, op.info)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].StartedAt.After(list[j].StartedAt) })
	return list
}

// Cancel requests that operation id stop. The operation reaches the canceled
// state once its work returns.
func (o *Operations) Cancel(id, reason string) (OperationInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op, ok := o.byID[id]
	if !ok {
		return OperationInfo{}, o.notFound(id)
	}
	if op.info.Done() {
		return op.info, protocol.Errorf(protocol.CodeConflict, "operation %s has already finished (state %s), so it cannot be canceled", id, op.info.State)
	}
	if op.canceled == "" {
		op.canceled = reason
		op.cancel()
		o.log.Info("operation cancel requested", "operation_id", id, "reason", reason)
	}
	return op.info, nil
}

// Follow passes the progress events of operation id to onProgress until
// the operation finishes, ctx ends or onProgress fails, and returns the
// last snapshot. With
// fromStart it replays the kept events from the first; otherwise it starts
// with the latest one. A follower that falls more than maxProgressEvents
// behind skips the events in between.
func (o *Operations) Follow(ctx context.Context, id string, fromStart bool, onProgress func(protocol.Progress) error) (OperationInfo, error) {
	next := -1
	for {
		o.mu.Lock()
		op, ok := o.byID[id]
		if !ok {
			o.mu.Unlock()
			return OperationInfo{}, o.notFound(id)
		}
		first := op.eventCount - len(op.events)
		switch {
		case next < 0 && fromStart:
			next = first
		case next < 0:
			next = max(op.eventCount-1, first)
		case next < first:
			next = first
		}
		pending := slices.Clone(op.events[next-first:])
		next = op.eventCount
		info, changed := op.info, op.changed
		o.mu.Unlock()

		for _, p := range pending {
			if err := onProgress(p); err != nil {
				return info, fmt.Errorf("stopped following operation %s, which goes on: %w", id, err)
			}
		}
		if info.Done() {
			return info, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return info, protocol.Errorf(protocol.CodeUnavailable,
				"stopped following operation %s: %v; the operation goes on, so query it with operation.get", id, ctx.Err())
		}
	}
}

func (o *Operations) runningCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, op := range o.byID {
		if !op.info.Done() {
			n++
		}
	}
	return n
}

// pruneLocked removes finished operations past the retention time, and the
// oldest ones beyond maxFinishedOperations.
func (o *Operations) pruneLocked() {
	cutoff := o.now().Add(-o.retention)
	var finished []*operation
	for id, op := range o.byID {
		if op.info.FinishedAt == nil {
			continue
		}
		if op.info.FinishedAt.Before(cutoff) {
			delete(o.byID, id)
			continue
		}
		finished = append(finished, op)
	}
	if len(finished) <= maxFinishedOperations {
		return
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].info.FinishedAt.Before(*finished[j].info.FinishedAt) })
	for _, op := range finished[:len(finished)-maxFinishedOperations] {
		delete(o.byID, op.info.ID)
	}
}

// shutdown refuses new operations and waits for running ones until ctx
// ends. Then it cancels them and waits up to cleanupGrace for their work to
// return.
func (o *Operations) shutdown(ctx context.Context) {
	o.mu.Lock()
	o.stopping = true
	o.mu.Unlock()

	done := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}

	o.mu.Lock()
	for _, op := range o.byID {
		if !op.info.Done() && op.canceled == "" {
			op.canceled = "the service is stopping"
		}
	}
	o.mu.Unlock()
	o.cancel()
	select {
	case <-done:
	case <-time.After(cleanupGrace):
		o.log.Error("operations did not return within the cleanup grace period after cancellation",
			"running", o.runningCount(), "grace", cleanupGrace.String())
	}
}

func newOperationID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.Join(errors.New("generating an operation id failed"), err)
	}
	return "op-" + hex.EncodeToString(b[:]), nil
}
