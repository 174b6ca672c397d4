//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func vmState(t *testing.T, e *env, name string) string {
	t.Helper()
	var vm struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(e.must("details", name, "-o", "json")), &vm); err != nil {
		t.Fatal(err)
	}
	return vm.State
}

func TestProvisionLifecycle(t *testing.T) {
	e := newEnv(t, "")
	e.importImage()
	userData := filepath.Join(e.dir, "user-data.sh")
	if err := os.WriteFile(userData, []byte("#!/bin/sh\necho from-user-script > /var/tmp/user-script-marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const name = "e2e-main"
	out, stderr, err := e.run("provision", name, "--os", "debian", "--version", "12", "--cpus", "2", "--memory", "1G",
		"--var", "TIMEZONE=Europe/Warsaw", "--var", `RUNCMD=["touch /var/tmp/runcmd-marker"]`, "--user-data", userData)
	if err != nil {
		t.Fatalf("provision: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, stage := range []string{"validate", "write_iso", "create_vm", "wait_ssh", "wait_cloud_init", "ready"} {
		if !strings.Contains(stderr, stage) {
			t.Errorf("provision progress lacks stage %q:\n%s", stage, stderr)
		}
	}

	t.Run("guest matches the rendered seed", func(t *testing.T) {
		if got := e.exec(name, "hostname"); got != name {
			t.Errorf("hostname = %q, want %q", got, name)
		}
		if got := e.exec(name, "id", "-un"); got != "genie" {
			t.Errorf("user = %q, want genie", got)
		}
		if got := e.exec(name, "id", "-nG"); !strings.Contains(" "+got+" ", " sudo ") {
			t.Errorf("groups = %q, want sudo among them", got)
		}
		if got := e.exec(name, "sudo", "-n", "true"); got != "" {
			t.Errorf("passwordless sudo printed %q", got)
		}
		pub, err := os.ReadFile(filepath.Join(e.instanceDir(name), name+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(string(pub))
		if keys := e.exec(name, "cat", ".ssh/authorized_keys"); !strings.Contains(keys, fields[1]) {
			t.Errorf("authorized_keys lacks the instance key:\n%s", keys)
		}
		if got := e.exec(name, "readlink", "/etc/localtime"); !strings.HasSuffix(got, "Europe/Warsaw") {
			t.Errorf("/etc/localtime -> %q, want Europe/Warsaw", got)
		}
		if got := e.exec(name, "sh", "-c", "test -f /var/tmp/runcmd-marker && echo present"); got != "present" {
			t.Errorf("runcmd marker: %q, want present", got)
		}
		if got := e.exec(name, "cat", "/var/tmp/user-script-marker"); got != "from-user-script" {
			t.Errorf("user script marker = %q, want from-user-script", got)
		}
		status := e.exec(name, "cloud-init", "status")
		if !strings.Contains(status, "status: done") {
			t.Errorf("cloud-init status = %q, want done", status)
		}
		if got := e.exec(name, "cat", "/var/lib/cloud/data/instance-id"); !strings.HasPrefix(got, "i-") {
			t.Errorf("instance-id = %q", got)
		}
	})

	t.Run("exec passes exit codes and quoted arguments", func(t *testing.T) {
		_, _, err := e.run("exec", name, "--", "sh", "-c", "exit 7")
		if code := exitCode(err); code != 7 {
			t.Errorf("exit code = %d (err %v), want 7", code, err)
		}
		if got := e.exec(name, "printf", "%s|", "a b", "it's", "$HOME"); got != "a b|it's|$HOME|" {
			t.Errorf("quoted arguments = %q", got)
		}
	})

	t.Run("stop and start keep data", func(t *testing.T) {
		e.exec(name, "sh", "-c", "echo kept > ~/persist && sync")
		e.must("stop", name)
		if st := vmState(t, e, name); st != "off" {
			t.Fatalf("state after stop = %q, want off", st)
		}
		e.must("start", name)
		if got := e.exec(name, "cat", "persist"); got != "kept" {
			t.Errorf("file after restart = %q, want kept", got)
		}
	})

	t.Run("pause and resume", func(t *testing.T) {
		e.must("pause", name)
		if st := vmState(t, e, name); st != "paused" {
			t.Errorf("state after pause = %q, want paused", st)
		}
		e.must("resume", name)
		if st := vmState(t, e, name); st != "running" {
			t.Errorf("state after resume = %q, want running", st)
		}
		if got := e.exec(name, "hostname"); got != name {
			t.Errorf("hostname after resume = %q", got)
		}
	})

	t.Run("delete of a running VM needs force", func(t *testing.T) {
		_, stderr, err := e.run("delete", name)
		if err == nil || !strings.Contains(stderr, "force") {
			t.Errorf("delete without --force: err %v, stderr %q; want a conflict naming --force", err, stderr)
		}
	})

	t.Run("force stop then delete removes everything", func(t *testing.T) {
		e.must("stop", "--force", name)
		if st := vmState(t, e, name); st != "off" {
			t.Errorf("state after force stop = %q, want off", st)
		}
		e.must("delete", name)
		e.assertGone(name)
		if _, stderr, err := e.run("details", name); err == nil || !strings.Contains(stderr, "not found") {
			t.Errorf("details after delete: err %v, stderr %q; want not found", err, stderr)
		}
	})
}

func exitCode(err error) int {
	type exitCoder interface{ ExitCode() int }
	if ec, ok := err.(exitCoder); ok {
		return ec.ExitCode()
	}
	return -1
}

func TestProvisionFailuresLeaveNothing(t *testing.T) {
	e := newEnv(t, "")
	e.importImage()

	t.Run("bad template variable", func(t *testing.T) {
		_, stderr, err := e.run("provision", "badvar", "--os", "debian", "--version", "12", "--var", "TIMEZONE=Mars/Olympus")
		if err == nil || !strings.Contains(stderr, "TIMEZONE") || !strings.Contains(stderr, "Mars/Olympus") {
			t.Errorf("err %v, stderr %q; want an error naming TIMEZONE and the value", err, stderr)
		}
		e.assertGone("badvar")
	})

	t.Run("missing base image", func(t *testing.T) {
		_, stderr, err := e.run("provision", "noimage", "--os", "ubuntu", "--version", "24.04")
		if err == nil || !strings.Contains(stderr, "not_found") || !strings.Contains(stderr, "vmgenie image import ubuntu-24.04") {
			t.Errorf("err %v, stderr %q; want not_found with the import command", err, stderr)
		}
		e.assertGone("noimage")
	})

	t.Run("guest that never answers SSH", func(t *testing.T) {
		start := time.Now()
		_, stderr, err := e.run("provision", "nossh", "--os", "debian", "--version", "12", "--ssh-timeout", "3s")
		if err == nil || !strings.Contains(stderr, "did not respond within 3s") || !strings.Contains(stderr, "serial.log") {
			t.Errorf("err %v, stderr %q; want a timeout naming serial.log", err, stderr)
		}
		if !strings.Contains(stderr, "timeout") {
			t.Errorf("stderr %q; want the timeout error code", stderr)
		}
		t.Logf("failed after %s", time.Since(start).Round(time.Millisecond))
		e.assertGone("nossh")
	})

	t.Run("invalid name", func(t *testing.T) {
		_, stderr, err := e.run("provision", "CON", "--os", "debian", "--version", "12")
		if err == nil || !strings.Contains(stderr, "invalid VM name") {
			t.Errorf("err %v, stderr %q; want an invalid name error", err, stderr)
		}
	})
}

func TestServiceCrashMidProvisionLeavesNoOrphan(t *testing.T) {
	e := newEnv(t, "")
	e.importImage()
	const name = "crash"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := e.runContext(ctx, "provision", name, "--os", "debian", "--version", "12")
		done <- err
	}()

	// Wait until QEMU runs for the instance, then kill the service.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, ok := e.qemuPID(name); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("QEMU did not start within 2m")
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.kill()
	<-done
	if len(qemuProcesses(e.instanceDir(name))) == 0 {
		t.Fatal("QEMU ended with the service; the crash case needs it running")
	}

	e.start()
	deadline = time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(e.instanceDir(name)); os.IsNotExist(err) && len(qemuProcesses(e.instanceDir(name))) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.assertGone(name)
	if out := e.must("ps", "-o", "json"); strings.Contains(out, name) {
		t.Errorf("ps still lists %s: %s", name, out)
	}
}
