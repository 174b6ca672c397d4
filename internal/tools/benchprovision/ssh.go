//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// sshClient runs the system ssh client against a baseline guest's port
// forward on 127.0.0.1. The first successful connection becomes a control
// master that later commands reuse, as vmgenie reuses its one SSH
// connection for the cloud-init polls.
type sshClient struct {
	key     string
	user    string
	port    int
	control string // control socket path
	log     string // ssh's stderr
}

func (c sshClient) command(ctx context.Context, remote ...string) *exec.Cmd {
	args := []string{
		"-F", "/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=10",
		"-o", "ControlMaster=auto",
		"-o", "ControlPath=" + c.control,
		"-o", "ControlPersist=yes",
		"-i", c.key,
		"-p", strconv.Itoa(c.port),
		"-l", c.user,
		"127.0.0.1", "--",
	}
	return exec.CommandContext(ctx, "ssh", append(args, remote...)...)
}

// run runs remote in the guest and reports whether it exited 0. Output
// goes to the log file, not to a pipe, because the control master that
// ssh forks would hold a pipe open.
func (c sshClient) run(ctx context.Context, remote ...string) (bool, error) {
	log, err := os.OpenFile(c.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer log.Close()
	cmd := c.command(ctx, remote...)
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		return false, fmt.Errorf("run ssh: %w", err)
	}
	return err == nil, nil
}

// poll runs remote every interval until it exits 0 or timeout passes.
func (c sshClient) poll(ctx context.Context, what string, interval, timeout time.Duration, remote ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := c.run(ctx, remote...)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: timed out after %s; see %s", what, timeout, c.log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func (c sshClient) waitUp(ctx context.Context, interval, timeout time.Duration) error {
	return c.poll(ctx, "SSH on 127.0.0.1:"+strconv.Itoa(c.port), interval, timeout, "true")
}

func (c sshClient) waitCloudInit(ctx context.Context, interval, timeout time.Duration) error {
	return c.poll(ctx, "cloud-init boot-finished", interval, timeout, "test", "-f", "/var/lib/cloud/instance/boot-finished")
}

// closeMaster ends the control master, if one runs.
func (c sshClient) closeMaster() {
	if _, err := os.Stat(c.control); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-o", "ControlPath="+c.control, "-O", "exit", "127.0.0.1").Run()
}
