package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

const (
	// maxLaunchAttempts bounds the retries when another process took the
	// SSH port between freePort and QEMU binding it.
	maxLaunchAttempts = 5
	// launchTimeout bounds QEMU's start-up until it daemonizes, which takes
	// well under a second when nothing is wrong.
	launchTimeout = time.Minute
	// powerdownInterval is how often a graceful stop presses the ACPI power
	// button again: a press during early boot, before the guest listens for
	// it, is lost.
	powerdownInterval = 15 * time.Second
	// exitPoll is how often the driver checks whether QEMU has exited.
	exitPoll = 100 * time.Millisecond
	// quitWait and killWait bound the wait for QEMU to exit after QMP quit
	// and after SIGKILL.
	quitWait = 10 * time.Second
	killWait = 5 * time.Second
)

// portIsFree checks a port before launch; tests replace it to make QEMU
// itself hit a taken port.
var portIsFree = portFree

// hostfwdFailure is the message QEMU prints when it cannot bind the host
// side of a port forward (QEMU 7.2: "Could not set up host forwarding rule").
const hostfwdFailure = "Could not set up host forwarding rule"

// qmpCall runs fn on a fresh QMP session of m, one session per VM at a time.
func qmpCall[T any](ctx context.Context, d *Driver, m *machine, fn func(*monitor) (T, error)) (T, error) {
	unlock := d.lockQMP(m.Name)
	defer unlock()
	var zero T
	mon, err := dialQMP(ctx, m.QMPSocket)
	if err != nil {
		return zero, err
	}
	defer mon.close()
	return fn(mon)
}

// qmpRun runs one QMP command without a result on m.
func (d *Driver) qmpRun(ctx context.Context, m *machine, command string, args any) error {
	_, err := qmpCall(ctx, d, m, func(mon *monitor) (struct{}, error) {
		return struct{}{}, mon.run(ctx, command, args, nil)
	})
	return err
}

// State returns the VM's state: Off without a QEMU process, otherwise what
// QMP query-status reports.
func (d *Driver) State(ctx context.Context, id string) (hypervisor.State, error) {
	m, err := d.find("state", id)
	if err != nil {
		return "", err
	}
	return d.state(ctx, m)
}

func (d *Driver) state(ctx context.Context, m *machine) (hypervisor.State, error) {
	pid, err := runningPID(m)
	if err != nil {
		return "", fmt.Errorf("%s: state %q: %w", driverName, m.Name, err)
	}
	if pid == 0 {
		return hypervisor.StateOff, nil
	}
	status, err := qmpCall(ctx, d, m, func(mon *monitor) (string, error) { return mon.queryStatus(ctx) })
	if err != nil {
		if _, statErr := os.Stat(m.QMPSocket); errors.Is(statErr, fs.ErrNotExist) {
			// QEMU writes the pid file before it creates the socket.
			return hypervisor.StateStarting, nil
		}
		d.log.Warn("QMP query-status failed", "vm", m.Name, "pid", pid, "err", err)
		return hypervisor.StateUnknown, nil
	}
	st := mapStatus(status)
	if st == hypervisor.StateRunning && d.isStopping(m.Name) {
		st = hypervisor.StateStopping
	}
	return st, nil
}

// mapStatus maps a QMP RunState to a driver state.
func mapStatus(status string) hypervisor.State {
	switch status {
	case "running":
		return hypervisor.StateRunning
	case "paused":
		return hypervisor.StatePaused
	case "prelaunch", "inmigrate", "restore-vm":
		return hypervisor.StateStarting
	case "shutdown":
		return hypervisor.StateStopping
	case "internal-error", "guest-panicked", "io-error", "watchdog":
		return hypervisor.StateFailed
	}
	return hypervisor.StateUnknown
}

func (d *Driver) isStopping(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopping[name]
}

func (d *Driver) setStopping(name string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.stopping[name] = true
	} else {
		delete(d.stopping, name)
	}
}

// chooseAccel picks the accelerator once per driver and logs the choice.
func (d *Driver) chooseAccel() (accelChoice, error) {
	d.accelOnce.Do(func() {
		d.accel, d.accelErr = chooseAccel(d.cfg.Accel, d.probe())
		if d.accelErr != nil {
			return
		}
		d.log.Info("chose QEMU accelerator", "accel", d.accel.Accel, "requested", d.cfg.Accel, "reason", d.accel.Reason)
		if d.accel.Warning != "" {
			d.log.Warn("requested QEMU accelerator may not work", "accel", d.accel.Accel, "warning", d.accel.Warning)
		}
	})
	return d.accel, d.accelErr
}

// Start launches QEMU for the VM. It returns once QEMU runs the VM; the
// guest boots after that.
func (d *Driver) Start(ctx context.Context, id string) error {
	if err := canRun(); err != nil {
		return &hypervisor.Error{Driver: driverName, Op: "start", VM: id, Kind: hypervisor.ErrUnsupported, Err: err}
	}
	unlock := d.lockOp(id)
	defer unlock()
	m, err := d.find("start", id)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return err
	}
	switch st {
	case hypervisor.StateRunning, hypervisor.StateStarting:
		return nil
	case hypervisor.StateOff:
	case hypervisor.StatePaused:
		return hypervisor.InvalidState(driverName, "start", id, st, "resume it instead")
	default:
		return hypervisor.InvalidState(driverName, "start", id, st, "stop it with --force first")
	}
	if err := checkFiles(m); err != nil {
		return fmt.Errorf("%s: start %q: %w", driverName, id, err)
	}
	accel, err := d.chooseAccel()
	if err != nil {
		return fmt.Errorf("%s: start %q: %w", driverName, id, err)
	}
	if err := m.removeRuntimeFiles(); err != nil {
		return fmt.Errorf("%s: start %q: remove files of the last run: %w", driverName, id, err)
	}

	args, err := d.launchWithFreePort(ctx, m, accel)
	if err != nil {
		return fmt.Errorf("%s: start %q: %w", driverName, id, err)
	}
	m.LastArgs = append([]string{d.cfg.Binary}, args...)
	m.LastAccel = string(accel.Accel)
	if err := m.save(); err != nil {
		return fmt.Errorf("%s: start %q: %w", driverName, id, err)
	}
	pid, _ := readPIDFile(m.PIDFile)
	d.log.Info("started VM", "vm", id, "pid", pid, "accel", accel.Accel, "ssh", hypervisor.Endpoint{Host: "127.0.0.1", Port: m.SSHHostPort}.String(), "serial_log", m.SerialLog)
	return nil
}

// launchWithFreePort launches QEMU, moving the SSH forward to a new port
// when the recorded one is taken, unless the spec fixed it.
func (d *Driver) launchWithFreePort(ctx context.Context, m *machine, accel accelChoice) ([]string, error) {
	for attempt := 1; ; attempt++ {
		if !m.SSHPortFixed && !portIsFree(m.SSHHostPort) {
			if err := d.movePort(m, "recorded SSH port is in use"); err != nil {
				return nil, err
			}
		}
		args := buildArgs(m, d.platform, accel.Accel)
		err := d.launch(ctx, m, args)
		if err == nil {
			return args, nil
		}
		if !strings.Contains(err.Error(), hostfwdFailure) {
			return nil, err
		}
		if m.SSHPortFixed {
			return nil, fmt.Errorf("SSH port %d on 127.0.0.1 is in use: %w; free the port, or recreate the VM without a fixed port", m.SSHHostPort, err)
		}
		if attempt == maxLaunchAttempts {
			return nil, fmt.Errorf("gave up after %d attempts to bind a free SSH port: %w", attempt, err)
		}
		if err := d.movePort(m, "QEMU could not bind the SSH port"); err != nil {
			return nil, err
		}
	}
}

func (d *Driver) movePort(m *machine, reason string) error {
	port, err := freePort(map[int]bool{m.SSHHostPort: true})
	if err != nil {
		return err
	}
	d.log.Warn("moving SSH forward to another port", "vm", m.Name, "reason", reason, "old_port", m.SSHHostPort, "new_port", port)
	m.SSHHostPort = port
	return nil
}

// launch runs QEMU with -daemonize and waits for the foreground process to
// exit, which happens once the VM runs or start-up failed. QEMU's start-up
// messages go to the VM's qemu.log.
func (d *Driver) launch(ctx context.Context, m *machine, args []string) error {
	logFile, err := os.OpenFile(m.LogFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open QEMU log: %w", err)
	}
	defer logFile.Close()

	cmd := newCommand(d.cfg.Binary, args, logFile)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w; install QEMU (Debian: qemu-system-x86 or qemu-system-arm) or set the binary path", d.cfg.Binary, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	timer := time.NewTimer(launchTimeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		d.abortLaunch(m, cmd.Process.Pid, done)
		return fmt.Errorf("QEMU start-up: %w", ctx.Err())
	case <-timer.C:
		d.abortLaunch(m, cmd.Process.Pid, done)
		return fmt.Errorf("QEMU did not finish starting within %s; see %s", launchTimeout, m.LogFile)
	}
	if err != nil {
		return fmt.Errorf("QEMU failed to start (%w): %s; see %s", err, logTail(m.LogFile), m.LogFile)
	}
	d.log.Debug("QEMU daemonized", "vm", m.Name, "took", time.Since(began))
	return nil
}

// abortLaunch kills a QEMU start-up that was cancelled or timed out: the
// foreground process and, if it already forked, the daemon.
func (d *Driver) abortLaunch(m *machine, parent int, done <-chan error) {
	if err := killProcess(parent); err != nil {
		d.log.Warn("kill QEMU start-up process", "vm", m.Name, "pid", parent, "err", err)
	}
	<-done
	if pid, _ := runningPID(m); pid != 0 {
		if err := killProcess(pid); err != nil {
			d.log.Warn("kill QEMU daemon", "vm", m.Name, "pid", pid, "err", err)
		}
	}
	d.log.Warn("aborted QEMU start-up", "vm", m.Name, "pid", parent)
}

// logTail returns the last lines of QEMU's log, for error messages.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "no QEMU output (" + err.Error() + ")"
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return "no QEMU output"
	}
	if len(text) > 2000 {
		text = "..." + text[len(text)-2000:]
	}
	return text
}

// checkFiles checks that the files the VM boots from still exist.
func checkFiles(m *machine) error {
	for _, f := range []struct{ what, path, hint string }{
		{"disk", m.Disk, "the VM cannot start without it; delete and recreate the VM"},
		{"base image", m.BaseImage.Path, "restore the base image; the disk overlay needs it"},
		{"kernel", m.Boot.Kernel, "restore it, or recreate the VM"},
		{"initrd", m.Boot.Initrd, "restore it, or recreate the VM"},
		{"ISO", m.ISO, "restore it, or eject it with swap-iso"},
		{"UEFI variable store", m.UEFIVars, "recreate the VM"},
		{"UEFI firmware", m.UEFICode, "reinstall the ovmf package"},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s %s: %w; %s", f.what, f.path, err, f.hint)
		}
	}
	return nil
}

// removeRuntimeFiles removes the pid file and QMP socket of a QEMU that is
// no longer running. QEMU removes both when it exits normally, but not
// when it is killed.
func (m *machine) removeRuntimeFiles() error {
	var errs []error
	for _, f := range []string{m.PIDFile, m.QMPSocket} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stop shuts the VM down; see hypervisor.Driver.
func (d *Driver) Stop(ctx context.Context, id string, opts hypervisor.StopOptions) (hypervisor.StopResult, error) {
	unlock := d.lockOp(id)
	defer unlock()
	m, err := d.find("stop", id)
	if err != nil {
		return hypervisor.StopResult{}, err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return hypervisor.StopResult{}, err
	}
	switch {
	case st == hypervisor.StateOff:
		return hypervisor.StopResult{}, nil
	case opts.Force:
		d.log.Info("turning VM off", "vm", id, "state", st)
		return hypervisor.StopResult{Forced: true}, d.wrap("stop", id, d.turnOff(ctx, m))
	case st != hypervisor.StateRunning && st != hypervisor.StatePaused:
		// A failed or starting guest cannot act on the power button.
		d.log.Info("turning VM off: its state does not allow a graceful stop", "vm", id, "state", st)
		return hypervisor.StopResult{Forced: true}, d.wrap("stop", id, d.turnOff(ctx, m))
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = hypervisor.DefaultStopTimeout
	}
	d.setStopping(m.Name, true)
	defer d.setStopping(m.Name, false)

	if st == hypervisor.StatePaused {
		if err := d.qmpRun(ctx, m, "cont", nil); err != nil {
			return hypervisor.StopResult{}, d.wrap("stop", id, err)
		}
	}
	stopped, err := d.powerdown(ctx, m, timeout)
	if err != nil {
		return hypervisor.StopResult{}, d.wrap("stop", id, err)
	}
	if stopped {
		return hypervisor.StopResult{}, nil
	}
	d.log.Warn("guest did not shut down in time; turning VM off", "vm", id, "timeout", timeout)
	return hypervisor.StopResult{Forced: true}, d.wrap("stop", id, d.turnOff(ctx, m))
}

func (d *Driver) wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s %q: %w", driverName, op, id, err)
}

// powerdown presses the ACPI power button and waits up to timeout for QEMU
// to exit, which it does when the guest powers off. It reports whether
// QEMU exited.
func (d *Driver) powerdown(ctx context.Context, m *machine, timeout time.Duration) (bool, error) {
	pid, err := runningPID(m)
	if err != nil || pid == 0 {
		return pid == 0, err
	}
	began := time.Now()
	deadline := began.Add(timeout)
	d.log.Info("stopping VM gracefully", "vm", m.Name, "pid", pid, "timeout", timeout)

	var lastPress time.Time
	for {
		if exited(m, pid) {
			if err := m.removeRuntimeFiles(); err != nil {
				d.log.Warn("remove runtime files after stop", "vm", m.Name, "err", err)
			}
			d.log.Info("VM stopped", "vm", m.Name, "took", time.Since(began).Round(time.Millisecond))
			return true, nil
		}
		now := time.Now()
		if now.After(deadline) {
			return false, nil
		}
		if now.Sub(lastPress) >= powerdownInterval {
			if err := d.qmpRun(ctx, m, "system_powerdown", nil); err != nil && !exited(m, pid) {
				d.log.Warn("QMP system_powerdown failed", "vm", m.Name, "err", err)
			}
			lastPress = now
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("waiting for the guest to shut down: %w; it may still be shutting down", ctx.Err())
		case <-time.After(exitPoll):
		}
	}
}

// exited reports whether the QEMU process pid of m is gone.
func exited(m *machine, pid int) bool {
	return !processAlive(pid) || !isQEMUFor(pid, m.PIDFile)
}

// turnOff ends QEMU at once: QMP quit, which lets QEMU flush the disk
// overlay, then SIGKILL if QEMU does not exit.
func (d *Driver) turnOff(ctx context.Context, m *machine) error {
	pid, err := runningPID(m)
	if err != nil {
		return err
	}
	if pid == 0 {
		return m.removeRuntimeFiles()
	}
	if err := d.qmpRun(ctx, m, "quit", nil); err != nil && !exited(m, pid) {
		// QEMU may close the socket before its reply arrives, so an error
		// counts only if QEMU is still there.
		d.log.Warn("QMP quit failed; killing QEMU", "vm", m.Name, "pid", pid, "err", err)
	}
	if !waitExit(ctx, m, pid, quitWait) {
		d.log.Warn("QEMU still running after quit; sending SIGKILL", "vm", m.Name, "pid", pid)
		if err := killProcess(pid); err != nil {
			return fmt.Errorf("kill QEMU process %d: %w", pid, err)
		}
		if !waitExit(ctx, m, pid, killWait) {
			return fmt.Errorf("QEMU process %d did not exit after SIGKILL", pid)
		}
	}
	d.log.Info("VM turned off", "vm", m.Name, "pid", pid)
	return m.removeRuntimeFiles()
}

// waitExit polls until QEMU process pid exits, for at most wait, and
// reports whether it did.
func waitExit(ctx context.Context, m *machine, pid int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for !exited(m, pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(exitPoll)
	}
	return true
}

// Pause freezes a running VM with QMP stop.
func (d *Driver) Pause(ctx context.Context, id string) error {
	return d.pauseResume(ctx, id, "pause", hypervisor.StatePaused, hypervisor.StateRunning, "stop", "paused VM")
}

// Resume continues a paused VM with QMP cont.
func (d *Driver) Resume(ctx context.Context, id string) error {
	return d.pauseResume(ctx, id, "resume", hypervisor.StateRunning, hypervisor.StatePaused, "cont", "resumed VM")
}

// pauseResume moves the VM from state from to state to with a QMP command
// and logs done. A VM already in state to is left as it is.
func (d *Driver) pauseResume(ctx context.Context, id, op string, to, from hypervisor.State, command, done string) error {
	unlock := d.lockOp(id)
	defer unlock()
	m, err := d.find(op, id)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return err
	}
	if st == to {
		return nil
	}
	if st != from {
		hint := "it must be " + string(from)
		if st == hypervisor.StateOff {
			hint = "start it first"
		}
		return hypervisor.InvalidState(driverName, op, id, st, hint)
	}
	if err := d.qmpRun(ctx, m, command, nil); err != nil {
		return d.wrap(op, id, err)
	}
	d.log.Info(done, "vm", id)
	return nil
}

// Addresses returns the SSH forward on 127.0.0.1 of a running or paused VM.
func (d *Driver) Addresses(ctx context.Context, id string) ([]hypervisor.Endpoint, error) {
	m, err := d.find("addresses", id)
	if err != nil {
		return nil, err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return nil, err
	}
	switch st {
	case hypervisor.StateRunning, hypervisor.StatePaused, hypervisor.StateStopping:
		return []hypervisor.Endpoint{{Host: "127.0.0.1", Port: m.SSHHostPort}}, nil
	}
	return nil, hypervisor.InvalidState(driverName, "addresses", id, st, "start it first")
}

// SwapISO changes the medium in the VM's CD drive, through QMP while QEMU
// runs, and records it for the next start.
func (d *Driver) SwapISO(ctx context.Context, id, path string) error {
	if path != "" {
		if err := checkISO(path); err != nil {
			return fmt.Errorf("%s: swap ISO of %q: %w", driverName, id, err)
		}
	}
	unlock := d.lockOp(id)
	defer unlock()
	m, err := d.find("swap ISO", id)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, m)
	if err != nil {
		return err
	}
	if st != hypervisor.StateOff {
		if err := d.changeMedium(ctx, m, path); err != nil {
			return d.wrap("swap ISO", id, err)
		}
	}
	old := m.ISO
	m.ISO = path
	if err := m.save(); err != nil {
		return d.wrap("swap ISO", id, err)
	}
	d.log.Info("swapped ISO", "vm", id, "state", st, "old", old, "new", path)
	return nil
}

func checkISO(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%w: ISO path %q is not absolute; resolve it first", hypervisor.ErrInvalidSpec, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: ISO %w", hypervisor.ErrInvalidSpec, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: ISO %s is not a regular file", hypervisor.ErrInvalidSpec, path)
	}
	return nil
}

// changeMedium swaps or ejects the CD medium of a running QEMU. A guest
// that has the disc mounted keeps the tray locked, so the driver then
// ejects with force: replacing the disc is what the caller requested.
func (d *Driver) changeMedium(ctx context.Context, m *machine, path string) error {
	eject := map[string]any{"id": cdromDeviceID, "force": true}
	if path == "" {
		return d.qmpRun(ctx, m, "eject", eject)
	}
	change := map[string]any{"id": cdromDeviceID, "filename": path, "format": "raw"}
	err := d.qmpRun(ctx, m, "blockdev-change-medium", change)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		return err
	}
	d.log.Info("CD tray is locked by the guest; ejecting with force", "vm", m.Name)
	if err := d.qmpRun(ctx, m, "eject", eject); err != nil {
		return err
	}
	return d.qmpRun(ctx, m, "blockdev-change-medium", change)
}
