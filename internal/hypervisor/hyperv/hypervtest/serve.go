package hypervtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// runnerMode checks the arguments a runner process gets and returns which
// runner program they start. It rejects anything but the fixed commands
// of pshost.HostCommand and pshost.OneShotCommand.
func runnerMode(args []string) (pshost.Mode, error) {
	want := []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand"}
	if len(args) != len(want)+1 || !slices.Equal(args[:len(want)], want) {
		return "", fmt.Errorf("hypervtest: unexpected powershell.exe arguments %q", args)
	}
	program, err := pshost.DecodeCommand(args[len(want)])
	if err != nil {
		return "", err
	}
	switch program {
	case scripts.HostProgram():
		return pshost.ModeHost, nil
	case scripts.OneShotProgram():
		return pshost.ModeOneShot, nil
	}
	return "", errors.New("hypervtest: -EncodedCommand is neither the host program nor the one-shot program")
}

// Backend handles requests. A *Model is one, and fileBackend shares a
// Model between processes.
type Backend interface {
	Handle(mode pshost.Mode, req pshost.Request) pshost.Response
}

// ServeHost runs the request loop of host.ps1 against b. It writes the
// ready line, then one response line per request line until r ends.
func ServeHost(r io.Reader, w io.Writer, b Backend, pid int) error {
	bw := bufio.NewWriter(w)
	ready, err := pshost.EncodeLine(pshost.Ready{Ready: true, Protocol: pshost.Protocol, PSVersion: "5.1.hypervtest", PID: pid})
	if err != nil {
		return err
	}
	bw.Write(ready)
	if err := bw.Flush(); err != nil {
		return err
	}
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			var req pshost.Request
			var resp pshost.Response
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				resp = failure(0, "failed", "ParserError", "hypervtest: request line is not JSON: "+jerr.Error())
			} else {
				resp = b.Handle(pshost.ModeHost, req)
			}
			out, eerr := pshost.EncodeLine(resp)
			if eerr != nil {
				return eerr
			}
			bw.Write(out)
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ServeOneShot handles the request in the environment value of
// pshost.RequestEnv as oneshot.ps1 does, and returns the exit code.
func ServeOneShot(encoded string, w io.Writer, b Backend) int {
	resp := failure(0, "failed", "InvalidData", "hypervtest: "+pshost.RequestEnv+" is not base64 JSON")
	if data, err := base64.StdEncoding.DecodeString(encoded); err == nil {
		var req pshost.Request
		if err := json.Unmarshal(data, &req); err == nil {
			resp = b.Handle(pshost.ModeOneShot, req)
		}
	}
	out, err := pshost.EncodeLine(resp)
	if err != nil {
		return 1
	}
	w.Write(out)
	if resp.OK {
		return 0
	}
	return 1
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// InProcessStarter runs the double in goroutines of the calling process.
type InProcessStarter struct {
	Backend Backend
	Faults  Faults
}

// Faults make simulated processes fail the ways powershell.exe can. Each
// function is consulted per process or per request; nil means never.
type Faults struct {
	// FailStart makes starting the process fail, as when powershell.exe is
	// missing.
	FailStart func(mode pshost.Mode) bool
	// HangAtStart makes a long-lived process never write its ready line.
	HangAtStart func() bool
	// Hang makes the process stop answering at this request.
	Hang func(mode pshost.Mode, req pshost.Request) bool
	// Die makes the process write a CLIXML error to stderr and exit with
	// code 3 at this request, without answering it.
	Die func(mode pshost.Mode, req pshost.Request) bool
}

// DeathCLIXML is the stderr block a dying double process writes.
const DeathCLIXML = `#< CLIXML
<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">hypervtest: the process was told to die_x000D__x000A_</S></Objs>
`

var pidCounter struct {
	sync.Mutex
	n int
}

func nextPID() int {
	pidCounter.Lock()
	defer pidCounter.Unlock()
	pidCounter.n++
	return 100000 + pidCounter.n
}

// Start starts a simulated powershell.exe.
func (s InProcessStarter) Start(cmd pshost.Command) (pshost.Process, error) {
	mode, err := runnerMode(cmd.Args)
	if err != nil {
		return nil, err
	}
	if s.Faults.FailStart != nil && s.Faults.FailStart(mode) {
		return nil, errors.New("hypervtest: exec: \"powershell.exe\": executable file not found in %PATH%")
	}
	p := newPipeProcess()
	backend := faultBackend{inner: s.Backend, faults: s.Faults, p: p}
	go func() {
		code := 0
		switch {
		case mode == pshost.ModeHost && s.Faults.HangAtStart != nil && s.Faults.HangAtStart():
			io.Copy(io.Discard, p.stdinR)
			<-p.killed
			code = 1
		case mode == pshost.ModeHost:
			if err := ServeHost(p.stdinR, p.stdoutW, backend, p.pid); err != nil {
				code = 1
			}
		default:
			code = ServeOneShot(envValue(cmd.Env, pshost.RequestEnv), p.stdoutW, backend)
		}
		p.exit(code)
	}()
	return p, nil
}

// faultBackend applies Faults before passing a request on.
type faultBackend struct {
	inner  Backend
	faults Faults
	p      *pipeProcess
}

func (f faultBackend) Handle(mode pshost.Mode, req pshost.Request) pshost.Response {
	if f.faults.Die != nil && f.faults.Die(mode, req) {
		io.WriteString(f.p.stderrW, DeathCLIXML)
		f.p.exit(3)
		return pshost.Response{}
	}
	if f.faults.Hang != nil && f.faults.Hang(mode, req) {
		<-f.p.killed
		return pshost.Response{}
	}
	return f.inner.Handle(mode, req)
}

// pipeProcess is a simulated process whose streams are in-memory pipes.
type pipeProcess struct {
	pid              int
	stdinR           *io.PipeReader
	stdinW           *io.PipeWriter
	stdoutR, stderrR *io.PipeReader
	stdoutW, stderrW *io.PipeWriter
	killed           chan struct{}
	killOnce         sync.Once
	exitOnce         sync.Once
	done             chan struct{}
	code             int
}

func newPipeProcess() *pipeProcess {
	p := &pipeProcess{pid: nextPID(), killed: make(chan struct{}), done: make(chan struct{})}
	p.stdinR, p.stdinW = io.Pipe()
	p.stdoutR, p.stdoutW = io.Pipe()
	p.stderrR, p.stderrW = io.Pipe()
	return p
}

// exit ends the process with code; only the first call counts.
func (p *pipeProcess) exit(code int) {
	p.exitOnce.Do(func() {
		p.code = code
		p.stdoutW.Close()
		p.stderrW.Close()
		p.stdinR.Close()
		close(p.done)
	})
}

func (p *pipeProcess) Stdin() io.WriteCloser { return p.stdinW }
func (p *pipeProcess) Stdout() io.Reader     { return p.stdoutR }
func (p *pipeProcess) Stderr() io.Reader     { return p.stderrR }
func (p *pipeProcess) PID() int              { return p.pid }

func (p *pipeProcess) Wait() (int, error) {
	<-p.done
	return p.code, nil
}

// Kill ends the process with code 1, as TerminateProcess does.
func (p *pipeProcess) Kill() error {
	p.killOnce.Do(func() {
		close(p.killed)
		p.exit(1)
	})
	return nil
}

// Environment variables of a double process.
const (
	// StateEnv names the file that holds the shared Model of double
	// processes; its presence makes MainIfDouble act as powershell.exe.
	StateEnv = "VMGENIE_HYPERVTEST_STATE"
)

// ProcessStarter starts the test binary again as a double process, which
// MainIfDouble in the test's TestMain turns into a simulated powershell.exe
// that shares the Model stored in StateFile.
type ProcessStarter struct {
	Executable string
	StateFile  string
}

// NewProcessStarter stores m in a new state file under dir and returns a
// starter for the running test binary.
func NewProcessStarter(dir string, m *Model) (ProcessStarter, error) {
	exe, err := os.Executable()
	if err != nil {
		return ProcessStarter{}, err
	}
	file := dir + string(os.PathSeparator) + "hypervtest-state.json"
	fb := fileBackend{path: file}
	m.mu.Lock()
	st := m.st
	st.Requests = nil
	err = fb.save(&st)
	if err == nil {
		err = fb.appendRequests(m.st.Requests)
	}
	m.mu.Unlock()
	return ProcessStarter{Executable: exe, StateFile: file}, err
}

// Start starts the double process.
func (s ProcessStarter) Start(cmd pshost.Command) (pshost.Process, error) {
	cmd.Env = append(append([]string{}, cmd.Env...), StateEnv+"="+s.StateFile)
	return pshost.ExecStarter{Path: s.Executable}.Start(cmd)
}

// Model returns the Model stored in the state file.
func (s ProcessStarter) Model() (*Model, error) {
	fb := fileBackend{path: s.StateFile}
	st, err := fb.loadAll()
	if err != nil {
		return nil, err
	}
	return &Model{st: *st}, nil
}

// MainIfDouble turns the process into a simulated powershell.exe when
// StateEnv is set, and exits when done; otherwise it returns at once. Call
// it first in TestMain.
func MainIfDouble() {
	file := os.Getenv(StateEnv)
	if file == "" {
		return
	}
	mode, err := runnerMode(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fb := &fileBackend{path: file}
	if mode == pshost.ModeHost {
		if err := ServeHost(os.Stdin, os.Stdout, fb, os.Getpid()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(ServeOneShot(os.Getenv(pshost.RequestEnv), os.Stdout, fb))
}

// fileBackend loads the Model from its file for each request and stores it
// again, under a lock directory, so that several processes share it. The
// recorded requests go to a separate file of JSON lines, appended once per
// request, so that the state file stays small.
type fileBackend struct {
	path string
}

func (f *fileBackend) requestsPath() string { return f.path + ".requests" }

func (f *fileBackend) Handle(mode pshost.Mode, req pshost.Request) pshost.Response {
	unlock, err := f.lock()
	if err != nil {
		return failure(req.ID, "failed", "ResourceBusy", err.Error())
	}
	defer unlock()
	st, err := f.load()
	if err != nil {
		return failure(req.ID, "failed", "ReadError", err.Error())
	}
	m := &Model{st: *st}
	resp := m.Handle(mode, req)
	if err := f.appendRequests(m.st.Requests); err != nil {
		return failure(req.ID, "failed", "WriteError", err.Error())
	}
	m.st.Requests = nil
	if script, ok := scripts.Lookup(req.Op); ok && script.ReadOnly {
		return resp
	}
	if err := f.save(&m.st); err != nil {
		return failure(req.ID, "failed", "WriteError", err.Error())
	}
	return resp
}

func (f *fileBackend) lock() (func(), error) {
	dir := f.path + ".lock"
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return func() { os.Remove(dir) }, nil
		}
		if !os.IsExist(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("hypervtest: lock %s: %w", dir, err)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fileBackend) load() (*state, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("hypervtest: decode %s: %w", f.path, err)
	}
	if st.VMs == nil {
		st.VMs = map[string]*VM{}
	}
	return &st, nil
}

// loadAll returns the state with the recorded requests.
func (f *fileBackend) loadAll() (*state, error) {
	st, err := f.load()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(f.requestsPath())
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r Recorded
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("hypervtest: decode %s: %w", f.requestsPath(), err)
		}
		st.Requests = append(st.Requests, r)
	}
	return st, nil
}

func (f *fileBackend) appendRequests(reqs []Recorded) error {
	if len(reqs) == 0 {
		return nil
	}
	file, err := os.OpenFile(f.requestsPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(file)
	for _, r := range reqs {
		if err := enc.Encode(r); err != nil {
			file.Close()
			return err
		}
	}
	return file.Close()
}

func (f *fileBackend) save(st *state) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}
