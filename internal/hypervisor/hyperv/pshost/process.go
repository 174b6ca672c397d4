package pshost

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// Command is one process to start: the arguments after the program, and
// environment entries (KEY=VALUE) added to the caller's environment.
type Command struct {
	Args []string
	Env  []string
}

// Process is a started process with its three standard streams.
type Process interface {
	Stdin() io.WriteCloser
	Stdout() io.Reader
	Stderr() io.Reader
	// Wait waits for the process to exit and returns its exit code. The
	// error is set when the exit code could not be read.
	Wait() (exitCode int, err error)
	// Kill ends the process at once.
	Kill() error
	PID() int
}

// Starter starts runner processes. ExecStarter starts powershell.exe; tests
// start a Go double that speaks the same protocol.
type Starter interface {
	Start(cmd Command) (Process, error)
}

// commonArgs keeps powershell.exe from loading profiles, printing a banner
// or waiting for a person to answer a prompt.
var commonArgs = []string{"-NoLogo", "-NoProfile", "-NonInteractive"}

// HostCommand returns the command of the long-lived host process. The
// program travels as -EncodedCommand, which execution policy does not
// govern and which needs no temporary file. It is fixed text: requests
// arrive later on stdin.
//
// NOTE: host.ps1 reading requests through [Console]::In under
// -EncodedCommand has run only against the Go double, not powershell.exe.
func HostCommand() Command {
	return Command{Args: append(append([]string{}, commonArgs...), "-EncodedCommand", EncodeCommand(scripts.HostProgram()))}
}

// OneShotCommand returns the command of a process that runs the request
// whose base64 JSON is encodedRequest.
func OneShotCommand(encodedRequest string) Command {
	return Command{
		Args: append(append([]string{}, commonArgs...), "-EncodedCommand", EncodeCommand(scripts.OneShotProgram())),
		Env:  []string{RequestEnv + "=" + encodedRequest},
	}
}

// MaxCommandLine is the longest command line CreateProcess accepts, in
// UTF-16 code units.
const MaxCommandLine = 32767

// ExecStarter starts Path (powershell.exe on Windows) with os/exec.
type ExecStarter struct {
	Path string
}

// Start starts the program with cmd's arguments and environment.
func (s ExecStarter) Start(cmd Command) (Process, error) {
	c := exec.Command(s.Path, cmd.Args...)
	c.Env = append(os.Environ(), cmd.Env...)
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("create stdin pipe for %s: %w", s.Path, err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("create stdout pipe for %s: %w", s.Path, err)
	}
	stderr, err := c.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("create stderr pipe for %s: %w", s.Path, err)
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Path, err)
	}
	return &execProcess{cmd: c, stdin: stdin, stdout: stdout, stderr: stderr}, nil
}

type execProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	stderr io.Reader
}

func (p *execProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *execProcess) Stdout() io.Reader     { return p.stdout }
func (p *execProcess) Stderr() io.Reader     { return p.stderr }
func (p *execProcess) PID() int              { return p.cmd.Process.Pid }
func (p *execProcess) Kill() error           { return p.cmd.Process.Kill() }

// Wait returns the exit code. The caller must have read stdout and stderr
// to the end first, as exec.Cmd.Wait closes the pipes.
func (p *execProcess) Wait() (int, error) {
	err := p.cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}
