package winsvc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/logging"
)

// Event Log rate limit: at most eventBurst records per eventWindow, so that
// a repeating error cannot flood the Event Log. The log file keeps them all.
const (
	eventBurst  = 20
	eventWindow = time.Minute
)

// EventHandler is a slog.Handler that writes records of level error and
// above to the Event Log, as text lines with secrets redacted. Records past
// the rate limit are counted, and the count is written as a warning when
// the next window opens.
type EventHandler struct {
	inner slog.Handler
	out   *eventWriter
}

// eventWriter receives one formatted record per Write from the text
// handler and sends it to the Event Log. Handle holds mu around the text
// handler's call, so that level and the rate-limit counters belong to the
// record being written.
type eventWriter struct {
	mu         sync.Mutex
	log        EventLog
	now        func() time.Time
	level      slog.Level
	window     time.Time
	sent       int
	suppressed int
}

// NewEventHandler returns a handler that writes error records to log.
func NewEventHandler(log EventLog) *EventHandler {
	return newEventHandler(log, time.Now)
}

func newEventHandler(log EventLog, now func() time.Time) *EventHandler {
	out := &eventWriter{log: log, now: now}
	inner := slog.NewTextHandler(out, &slog.HandlerOptions{
		Level: slog.LevelError,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// The Event Log records its own time and level.
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return logging.RedactAttr(groups, a)
		},
	})
	return &EventHandler{inner: inner, out: out}
}

// Enabled implements slog.Handler.
func (h *EventHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *EventHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.level = r.Level
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *EventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &EventHandler{inner: h.inner.WithAttrs(attrs), out: h.out}
}

// WithGroup implements slog.Handler.
func (h *EventHandler) WithGroup(name string) slog.Handler {
	return &EventHandler{inner: h.inner.WithGroup(name), out: h.out}
}

// Write sends one record to the Event Log, within the rate limit.
func (w *eventWriter) Write(p []byte) (int, error) {
	now := w.now()
	if now.Sub(w.window) >= eventWindow {
		if w.suppressed > 0 {
			msg := fmt.Sprintf("%d further errors were not written to the Event Log in the last %s; the service's log file has them all.", w.suppressed, eventWindow)
			_ = w.log.Warning(EventSuppressed, msg)
		}
		w.window, w.sent, w.suppressed = now, 0, 0
	}
	if w.sent >= eventBurst {
		w.suppressed++
		return len(p), nil
	}
	w.sent++

	msg := strings.TrimSuffix(string(p), "\n")
	var err error
	if w.level >= slog.LevelError {
		err = w.log.Error(EventLogError, msg)
	} else {
		err = w.log.Warning(EventLogError, msg)
	}
	if err != nil {
		return 0, fmt.Errorf("write to the Event Log: %w", err)
	}
	return len(p), nil
}
