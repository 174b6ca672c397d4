// Package guest talks to a booted instance over SSH: it waits for the SSH
// server, runs commands, and decides when cloud-init has finished this
// instance's first boot.
package guest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Target is how to reach one instance.
type Target struct {
	Name    string // instance name, for messages and logs
	Address string // host:port of the SSH server
	User    string
	Signer  ssh.Signer
	// HostKey pins the guest's SSH host key. Nil accepts any key.
	// NOTE: nil is only for images that cannot take a host key from the seed.
	HostKey ssh.PublicKey
	// SerialLog is named in timeout errors, so the user knows where to look.
	SerialLog string
}

// PollInterval is the pause between connection attempts.
var PollInterval = 500 * time.Millisecond

func (t Target) config() *ssh.ClientConfig {
	cfg := &ssh.ClientConfig{
		User:            t.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	}
	if t.HostKey != nil {
		// Ask for the pinned key's type, because a guest also has host keys
		// of other types that cloud-init generated.
		cfg.HostKeyCallback = ssh.FixedHostKey(t.HostKey)
		cfg.HostKeyAlgorithms = []string{t.HostKey.Type()}
	}
	return cfg
}

// handshakeTimeout bounds one SSH handshake. A guest that is still booting
// may accept the TCP connection through a port forward and then send
// nothing, so each attempt gives up and the caller retries.
const handshakeTimeout = 20 * time.Second

// Dial opens one SSH connection. Canceling ctx aborts the handshake at once.
func Dial(ctx context.Context, t Target) (*ssh.Client, error) {
	dialer := net.Dialer{Timeout: 10 * time.Second}
	conn, err := dialer.DialContext(ctx, "tcp", t.Address)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, t.Address, t.config())
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// WaitSSH retries Dial until it succeeds or timeout passes. A host key
// mismatch stops at once: retrying cannot fix it.
func WaitSSH(ctx context.Context, t Target, timeout time.Duration, log *slog.Logger) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var lastErr error
	for attempt := 1; ; attempt++ {
		client, err := Dial(ctx, t)
		if err == nil {
			log.Info("SSH is up", "instance", t.Name, "address", t.Address, "attempts", attempt, "elapsed", time.Since(start).Round(time.Millisecond))
			return client, nil
		}
		if isHostKeyMismatch(err) {
			return nil, fmt.Errorf("SSH host key of %q at %s does not match the key vmgenie gave it: %w; the port may belong to another machine", t.Name, t.Address, err)
		}
		lastErr = err
		log.Debug("SSH not up yet, retrying", "instance", t.Name, "address", t.Address, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &TimeoutError{fmt.Sprintf("SSH on %s did not respond within %s (last error: %v); see %s", t.Address, timeout, lastErr, t.SerialLog)}
			}
			return nil, ctx.Err()
		case <-time.After(PollInterval):
		}
	}
}

func isHostKeyMismatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "ssh: host key mismatch")
}

// TimeoutError is a wait that ran out of time. Its Timeout method lets
// callers tell it apart with errors.As, as they do for net.Error.
type TimeoutError struct {
	msg string
}

func (e *TimeoutError) Error() string { return e.msg }

// Timeout reports true.
func (e *TimeoutError) Timeout() bool { return true }

// Result is the outcome of one command.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Run runs cmd in a new session. A command that exits non-zero is not an
// error: its code is in the Result.
func Run(ctx context.Context, client *ssh.Client, cmd string) (Result, error) {
	session, err := client.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("open SSH session: %w", err)
	}
	defer session.Close()
	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(cmd) }()
	select {
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGKILL)
		return Result{}, fmt.Errorf("command %q: %w", cmd, ctx.Err())
	case err = <-done:
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
	default:
		return res, fmt.Errorf("command %q: %w", cmd, err)
	}
	return res, nil
}

// readinessScript prints, once boot-finished exists, the instance-id that
// cloud-init recorded and, after it, the result.json that cloud-init's final
// stage writes with the errors of the boot. Reading files instead of running
// "cloud-init status" saves the seconds a Python start takes in a slow
// guest. The paths are fixed; nothing from the user is in the script.
const readinessScript = `if [ -f /var/lib/cloud/instance/boot-finished ]; then cat /var/lib/cloud/data/instance-id; echo; cat /var/lib/cloud/data/result.json 2>/dev/null; fi`

// cloudInitResult is the part of /var/lib/cloud/data/result.json that
// lists the errors of the boot.
type cloudInitResult struct {
	V1 struct {
		Datasource        string   `json:"datasource"`
		Errors            []string `json:"errors"`
		RecoverableErrors any      `json:"recoverable_errors"`
	} `json:"v1"`
}

// WaitCloudInit polls the guest until cloud-init has finished a boot of
// instanceID: boot-finished exists and /var/lib/cloud/data/instance-id is
// this instance's id, so a marker left by an earlier boot does not count.
// It returns a one-line status, and an error with the output of
// "cloud-init status --long" when cloud-init reports errors.
func WaitCloudInit(ctx context.Context, client *ssh.Client, t Target, instanceID string, timeout time.Duration, log *slog.Logger) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var result string
	for {
		res, err := Run(ctx, client, readinessScript)
		if err != nil && ctx.Err() == nil {
			return "", fmt.Errorf("check cloud-init on %q: %w", t.Name, err)
		}
		if err == nil {
			id, rest, _ := strings.Cut(string(res.Stdout), "\n")
			if strings.TrimSpace(id) == instanceID {
				result = rest
				log.Info("cloud-init finished", "instance", t.Name, "instance_id", instanceID, "elapsed", time.Since(start).Round(time.Millisecond))
				break
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", &TimeoutError{fmt.Sprintf("cloud-init did not finish within %s; see %s", timeout, t.SerialLog)}
			}
			return "", ctx.Err()
		case <-time.After(PollInterval):
		}
	}

	var parsed cloudInitResult
	if err := json.Unmarshal([]byte(result), &parsed); err == nil && len(parsed.V1.Errors) == 0 {
		return "status: done", nil
	}
	// Errors, or a result.json this code cannot read: ask cloud-init.
	res, err := Run(ctx, client, "cloud-init status --long")
	if err != nil {
		return "", fmt.Errorf("read cloud-init status on %q: %w", t.Name, err)
	}
	status := strings.TrimSpace(string(res.Stdout))
	if res.ExitCode != 0 {
		return status, fmt.Errorf("cloud-init on %q finished with errors (exit code %d):\n%s\nsee %s and /var/log/cloud-init.log in the guest",
			t.Name, res.ExitCode, status, t.SerialLog)
	}
	return status, nil
}
