package hyperv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DialFunc opens the client end of the named pipe that Hyper-V serves for
// a VM's COM1 port. It returns when the pipe is open or ctx ends.
type DialFunc func(ctx context.Context, pipe string) (io.ReadCloser, error)

// ErrSerialUnsupported is returned by the DialFunc of platforms without
// Hyper-V; the capture then stops at once.
var ErrSerialUnsupported = errors.New("serial capture needs Windows named pipes")

// serialRetry is how long a capture keeps trying to open the pipe after a
// start, and the pause between attempts.
const (
	serialRetryFor   = 30 * time.Second
	serialRetryPause = 500 * time.Millisecond
)

// serialCapture copies each running VM's COM1 pipe into its serial log,
// one goroutine per VM. Hyper-V creates the pipe server when the VM
// starts and closes it when the VM stops, so a capture ends with the pipe.
// Start, State, Inspect and List start it again for a running VM, also
// after a service restart.
type serialCapture struct {
	dial DialFunc
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]*captureRun // by VM id
}

type captureRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newSerialCapture(dial DialFunc, log *slog.Logger) *serialCapture {
	return &serialCapture{dial: dial, log: log, running: map[string]*captureRun{}}
}

// ensure starts the capture of rec's pipe unless one runs.
func (s *serialCapture) ensure(rec *record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[rec.ID]; ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &captureRun{cancel: cancel, done: make(chan struct{})}
	s.running[rec.ID] = run
	go func() {
		defer close(run.done)
		defer func() {
			s.mu.Lock()
			if s.running[rec.ID] == run {
				delete(s.running, rec.ID)
			}
			s.mu.Unlock()
		}()
		s.capture(ctx, rec.ID, rec.COM1Pipe, rec.SerialLog)
	}()
}

// capture opens the pipe, retrying while the VM starts, and appends what
// it reads to the log file until the pipe closes or ctx ends.
func (s *serialCapture) capture(ctx context.Context, id, pipe, logPath string) {
	log := s.log.With("vm", id, "pipe", pipe, "serial_log", logPath)
	deadline := time.Now().Add(serialRetryFor)
	var conn io.ReadCloser
	for {
		var err error
		conn, err = s.dial(ctx, pipe)
		if err == nil {
			break
		}
		if errors.Is(err, ErrSerialUnsupported) {
			log.Debug("not capturing the serial console on this platform")
			return
		}
		if ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			log.Warn("giving up on the serial console pipe", "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(serialRetryPause):
		}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		log.Error("opening the serial log failed", "err", err)
		return
	}
	defer out.Close()
	log.Info("capturing the serial console")
	n, err := io.Copy(out, conn)
	if err != nil && ctx.Err() == nil {
		log.Info("the serial console pipe closed", "bytes", n, "err", err)
		return
	}
	log.Info("the serial console pipe closed", "bytes", n)
}

// stop ends the capture of VM id and waits for it, so that its log file is
// closed before the file is removed.
func (s *serialCapture) stop(id string) {
	s.mu.Lock()
	run, ok := s.running[id]
	s.mu.Unlock()
	if !ok {
		return
	}
	run.cancel()
	<-run.done
}

func (s *serialCapture) stopAll() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.running))
	for id := range s.running {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.stop(id)
	}
}
