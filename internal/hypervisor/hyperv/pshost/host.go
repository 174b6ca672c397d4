// Package pshost runs the Hyper-V driver's embedded PowerShell scripts.
//
// A Host keeps long-lived powershell.exe processes that run host.ps1: JSON
// request lines in on stdin, JSON response lines out on stdout, with a
// timeout on every call. A process that dies or hangs is killed and
// replaced. When the long-lived process cannot start, calls fall back to
// one powershell.exe per call (oneshot.ps1), which costs a process start
// each time. Every input travels as JSON data next to the script text;
// nothing a caller passes is ever pasted into the script.
//
// We wrote this instead of using a Go PowerShell binding because the ones
// that exist paste commands into an interactive session as text, which is
// what this package must never do with user values.
package pshost

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// Config configures a Host. Only Starter is required.
type Config struct {
	// Starter starts the runner processes.
	Starter Starter
	// MaxProcesses bounds the long-lived processes, and so the calls that
	// run at once; zero means 2. A long call such as a graceful stop then
	// leaves another process free for state queries.
	MaxProcesses int
	// StartTimeout bounds the wait for the ready line of a new process.
	// Zero means 60 seconds, because the first import of the Hyper-V
	// module can be slow.
	StartTimeout time.Duration
	// CallTimeout bounds a call that sets no timeout of its own; zero
	// means 5 minutes.
	CallTimeout time.Duration
	// FallbackAfter is how many long-lived process starts may fail in a row
	// before calls run in their own process; zero means 2.
	FallbackAfter int
	// RetryHostAfter is how long calls run in their own process before a
	// long-lived process is tried again; zero means 1 minute.
	RetryHostAfter time.Duration
	// OneShotOnly runs every call in a process of its own, for hosts where
	// the long-lived process misbehaves.
	OneShotOnly bool
	// Logger receives the logs; nil means slog.Default().
	Logger *slog.Logger
}

// Mode names how a call ran.
type Mode string

const (
	ModeHost    Mode = "host"     // in a long-lived process
	ModeOneShot Mode = "one-shot" // in a process of its own
)

// Host runs script calls. It is safe for concurrent use.
type Host struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{} // one token per process that may run a call

	mu           sync.Mutex
	idle         []*hostProcess
	nextID       int64
	startFails   int       // long-lived starts that failed in a row
	oneShotUntil time.Time // calls run one-shot until then
	closed       bool
}

// New returns a Host; it starts no process until the first call.
func New(cfg Config) (*Host, error) {
	if cfg.Starter == nil {
		return nil, errors.New("pshost: Config.Starter is nil; set it to an ExecStarter for powershell.exe")
	}
	if cfg.MaxProcesses <= 0 {
		cfg.MaxProcesses = 2
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Minute
	}
	if cfg.FallbackAfter <= 0 {
		cfg.FallbackAfter = 2
	}
	if cfg.RetryHostAfter <= 0 {
		cfg.RetryHostAfter = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Host{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "pshost"),
		slots: make(chan struct{}, cfg.MaxProcesses),
	}, nil
}

// CallOptions tune one call.
type CallOptions struct {
	// Timeout bounds the call; zero means Config.CallTimeout.
	Timeout time.Duration
	// Mode forces a mode; empty lets the Host choose.
	Mode Mode
}

// CallError is a failed call: the script raised Err, or the runner failed
// (then Err is not a *ScriptError).
type CallError struct {
	Op   string
	Mode Mode
	Err  error
}

func (e *CallError) Error() string { return fmt.Sprintf("PowerShell %s: %v", e.Op, e.Err) }
func (e *CallError) Unwrap() error { return e.Err }

// ErrTimeout marks a call that did not finish within its timeout.
var ErrTimeout = errors.New("timed out")

// ErrClosed marks a call on a closed Host.
var ErrClosed = errors.New("the PowerShell host is closed")

// Call runs script with input, which is marshalled to JSON, and unmarshals
// the script's result into out unless out is nil.
func (h *Host) Call(ctx context.Context, script scripts.Script, input any, out any, opts CallOptions) error {
	raw, err := json.Marshal(input)
	if err != nil {
		return &CallError{Op: script.Name, Err: fmt.Errorf("encode the input: %w", err)}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = h.cfg.CallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	resp, mode, err := h.run(ctx, script, raw, opts.Mode)
	if err != nil {
		return &CallError{Op: script.Name, Mode: mode, Err: err}
	}
	for _, m := range resp.Messages {
		h.log.Info("PowerShell script message", "op", script.Name, "message", m)
	}
	if resp.StrayOutput > 0 {
		h.log.Warn("PowerShell script wrote objects besides its result; kept the last one", "op", script.Name, "extra_objects", resp.StrayOutput)
	}
	if !resp.OK {
		return &CallError{Op: script.Name, Mode: mode, Err: resp.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, out); err != nil {
		return &CallError{Op: script.Name, Mode: mode, Err: fmt.Errorf("decode the result %.200s: %w", resp.Result, err)}
	}
	return nil
}

func (h *Host) newRequest(script scripts.Script, input json.RawMessage) Request {
	h.mu.Lock()
	h.nextID++
	id := h.nextID
	h.mu.Unlock()
	return Request{ID: id, Op: script.Name, Script: script.Text, Input: input}
}

// run picks the mode and runs the request in it.
func (h *Host) run(ctx context.Context, script scripts.Script, input json.RawMessage, force Mode) (Response, Mode, error) {
	req := h.newRequest(script, input)
	if force == ModeOneShot || (force == "" && (h.cfg.OneShotOnly || h.useOneShot())) {
		resp, err := runOneShot(ctx, h.cfg.Starter, req, h.log)
		return resp, ModeOneShot, err
	}

	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return Response{}, ModeHost, fmt.Errorf("waiting for a free PowerShell process: %w", ctxErr(ctx))
	}
	defer func() { <-h.slots }()

	for attempt := 1; ; attempt++ {
		proc, err := h.acquire(ctx)
		if err != nil {
			if force == ModeHost {
				return Response{}, ModeHost, err
			}
			h.log.Warn("running the call in its own PowerShell process, because the long-lived one did not start", "op", script.Name, "err", err)
			resp, oneErr := runOneShot(ctx, h.cfg.Starter, req, h.log)
			return resp, ModeOneShot, oneErr
		}
		resp, sent, err := proc.call(ctx, req)
		if err == nil {
			h.release(proc)
			return resp, ModeHost, nil
		}
		proc.kill()
		// A request that never reached the process is safe to send again;
		// one that did is sent again only when the script changes nothing.
		retry := attempt == 1 && ctx.Err() == nil && (!sent || script.ReadOnly)
		if !retry {
			return Response{}, ModeHost, err
		}
		h.log.Warn("the PowerShell process failed during a call; retrying in a new process", "op", script.Name, "pid", proc.pid, "err", err)
		req = h.newRequest(script, input)
	}
}

func (h *Host) useOneShot() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Before(h.oneShotUntil)
}

// acquire returns an idle process or starts one.
func (h *Host) acquire(ctx context.Context) (*hostProcess, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	for len(h.idle) > 0 {
		p := h.idle[len(h.idle)-1]
		h.idle = h.idle[:len(h.idle)-1]
		if p.alive() {
			h.mu.Unlock()
			return p, nil
		}
		h.log.Warn("the idle PowerShell process exited; starting another", "pid", p.pid, "exit", p.exitSummary())
	}
	h.mu.Unlock()

	p, err := startHostProcess(ctx, h.cfg.Starter, h.cfg.StartTimeout, h.log)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.startFails++
		if h.startFails >= h.cfg.FallbackAfter {
			h.oneShotUntil = time.Now().Add(h.cfg.RetryHostAfter)
			h.log.Warn("the long-lived PowerShell process failed to start repeatedly; running each call in its own process for a while",
				"failures", h.startFails, "until", h.oneShotUntil.Format(time.RFC3339))
			h.startFails = 0
		}
		return nil, err
	}
	h.startFails = 0
	return p, nil
}

func (h *Host) release(p *hostProcess) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		p.close()
		return
	}
	h.idle = append(h.idle, p)
}

// Close ends the idle processes and makes later calls fail. Calls in
// flight finish first; their processes end when they return.
func (h *Host) Close() error {
	h.mu.Lock()
	idle := h.idle
	h.idle, h.closed = nil, true
	h.mu.Unlock()
	for _, p := range idle {
		p.close()
	}
	return nil
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ctx.Err()
}

// hostProcess is one long-lived runner process.
type hostProcess struct {
	proc   Process
	pid    int
	log    *slog.Logger
	stdin  io.WriteCloser
	lines  chan []byte // stdout lines; closed at end of output
	stderr *stderrLog
	exited chan struct{} // closed once the process has exited and its output is read

	stdoutDone chan struct{}

	exitCode int
	waitErr  error
}

// startHostProcess starts host.ps1 and waits for its ready line.
func startHostProcess(ctx context.Context, starter Starter, timeout time.Duration, log *slog.Logger) (*hostProcess, error) {
	began := time.Now()
	proc, err := starter.Start(HostCommand())
	if err != nil {
		return nil, fmt.Errorf("start the PowerShell host: %w", err)
	}
	p := &hostProcess{
		proc:       proc,
		pid:        proc.PID(),
		stdin:      proc.Stdin(),
		lines:      make(chan []byte, 16),
		stdoutDone: make(chan struct{}),
		exited:     make(chan struct{}),
	}
	p.log = log.With("pid", p.pid)
	p.stderr = newStderrLog(proc.Stderr(), p.log)
	go p.readLines(proc.Stdout())
	go p.wait()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.kill()
				<-p.exited
				return nil, fmt.Errorf("the PowerShell host exited before it was ready (%s)", p.exitSummary())
			}
			ready, ok := decodeReady(line)
			if !ok {
				p.log.Warn("PowerShell host wrote a line before its ready line", "line", truncate(line))
				continue
			}
			if ready.Protocol != Protocol {
				p.kill()
				return nil, fmt.Errorf("the PowerShell host speaks protocol %d, want %d", ready.Protocol, Protocol)
			}
			p.log.Info("started the PowerShell host", "ps_version", ready.PSVersion, "took", time.Since(began).Round(time.Millisecond))
			return p, nil
		case <-timer.C:
			p.kill()
			return nil, fmt.Errorf("the PowerShell host did not report ready within %s; stderr: %s", timeout, p.stderr.Tail())
		case <-ctx.Done():
			p.kill()
			return nil, fmt.Errorf("starting the PowerShell host: %w", ctxErr(ctx))
		}
	}
}

func (p *hostProcess) readLines(r io.Reader) {
	defer close(p.stdoutDone)
	defer close(p.lines)
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			p.lines <- line
		}
		if err != nil {
			return
		}
	}
}

// wait reaps the process once both output streams have ended, as exec.Cmd
// requires.
func (p *hostProcess) wait() {
	<-p.stderr.done
	<-p.stdoutDone
	p.exitCode, p.waitErr = p.proc.Wait()
	close(p.exited)
}

func (p *hostProcess) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *hostProcess) exitSummary() string {
	select {
	case <-p.exited:
	default:
		return "still running"
	}
	s := fmt.Sprintf("exit code %d", p.exitCode)
	if p.waitErr != nil {
		s = "exit code unknown: " + p.waitErr.Error()
	}
	if tail := p.stderr.Tail(); tail != "" {
		s += "; stderr: " + tail
	}
	return s
}

// call sends req and waits for its response. sent reports whether the
// request reached the process's stdin.
func (p *hostProcess) call(ctx context.Context, req Request) (resp Response, sent bool, err error) {
	line, err := EncodeLine(req)
	if err != nil {
		return Response{}, false, fmt.Errorf("encode the request: %w", err)
	}
	// A hung process stops reading; the write then blocks until the
	// process is killed, so it runs beside the wait below.
	written := make(chan error, 1)
	go func() {
		_, err := p.stdin.Write(line)
		written <- err
	}()
	select {
	case err := <-written:
		if err != nil {
			return Response{}, false, fmt.Errorf("send the request to the PowerShell host (pid %d): %w", p.pid, err)
		}
	case <-ctx.Done():
		return Response{}, false, fmt.Errorf("send the request to the PowerShell host (pid %d): %w", p.pid, ctxErr(ctx))
	}
	for {
		select {
		case out, ok := <-p.lines:
			if !ok {
				<-p.exited
				return Response{}, true, fmt.Errorf("the PowerShell host (pid %d) exited during the call (%s)", p.pid, p.exitSummary())
			}
			resp, err := DecodeResponse(out)
			if err != nil {
				p.log.Warn("PowerShell host wrote a line that is not a response", "line", truncate(out))
				continue
			}
			if resp.ID != req.ID && resp.ID != 0 {
				p.log.Warn("PowerShell host returned the response of another request; ignoring it", "want_id", req.ID, "got_id", resp.ID)
				continue
			}
			return resp, true, nil
		case <-ctx.Done():
			return Response{}, true, fmt.Errorf("waiting for the PowerShell host (pid %d): %w; the process was killed and will be replaced", p.pid, ctxErr(ctx))
		}
	}
}

// kill ends the process and discards the rest of its output, so that its
// reader goroutines and the reaping in wait can finish.
func (p *hostProcess) kill() {
	if p.alive() {
		if err := p.proc.Kill(); err != nil {
			p.log.Warn("killing the PowerShell host failed", "err", err)
		}
	}
	go func() {
		for range p.lines {
		}
	}()
}

// close ends the process by closing its stdin, which ends host.ps1's loop,
// and kills it if it has not exited within 5 seconds.
func (p *hostProcess) close() {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

func truncate(line []byte) string {
	const maxLen = 300
	if len(line) > maxLen {
		return string(line[:maxLen]) + "..."
	}
	return string(line)
}

// EncodeRequest returns the content of RequestEnv for req: base64 of the
// request's JSON.
func EncodeRequest(req Request) (string, error) {
	line, err := EncodeLine(req)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(line[:len(line)-1]), nil
}
