//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// baseline provisions a guest by hand with the tools vmgenie replaces.
type baseline struct {
	cfg config

	mu sync.Mutex
	// running are the instance directories whose QEMU may still run.
	running []string
}

// hostfwd matches the SSH port forward in QEMU's -netdev argument.
var hostfwd = regexp.MustCompile(`hostfwd=tcp:127\.0\.0\.1:(\d+)-:22\b`)

// baselineArgs rewrites vmgenie's QEMU argv for the baseline: paths in the
// instance directory move to dir, the SSH forward moves to port and the
// VM is named name. Every other argument stays as vmgenie's driver wrote it.
func baselineArgs(args []string, instanceDir, dir string, port int, name string) ([]string, error) {
	out := make([]string, len(args))
	netdevs := 0
	for i, arg := range args {
		arg = strings.ReplaceAll(arg, instanceDir+string(filepath.Separator), dir+string(filepath.Separator))
		if i > 0 && args[i-1] == "-name" {
			arg = "guest=" + name
		}
		if i > 0 && args[i-1] == "-netdev" {
			netdevs++
			// The baseline must keep the guest as cut off as vmgenie's.
			if !strings.HasPrefix(arg, "user,") || !slices.Contains(strings.Split(arg, ","), "restrict=on") {
				return nil, fmt.Errorf("vmgenie's -netdev argument %q is not user networking with restrict=on; the bench runs no guest without it", arg)
			}
			if !hostfwd.MatchString(arg) {
				return nil, fmt.Errorf("vmgenie's -netdev argument %q has no SSH forward on 127.0.0.1", arg)
			}
			arg = hostfwd.ReplaceAllString(arg, "hostfwd=tcp:127.0.0.1:"+strconv.Itoa(port)+"-:22")
		}
		out[i] = arg
	}
	if netdevs != 1 {
		return nil, fmt.Errorf("vmgenie's QEMU argv has %d -netdev arguments, want 1", netdevs)
	}
	for _, arg := range out {
		if strings.Contains(arg, instanceDir+string(filepath.Separator)) {
			return nil, fmt.Errorf("QEMU argument %q still refers to vmgenie's instance directory", arg)
		}
	}
	return out, nil
}

// provision boots one guest the bare way, with the seed data, key and QEMU
// argv of the vmgenie round before it, and removes it again.
func (b *baseline) provision(ctx context.Context, round int, art artifacts) (m measurement, err error) {
	m = measurement{side: "baseline", round: round, loadBefore: loadAverage()}
	dir := filepath.Join(b.cfg.work, fmt.Sprintf("base-%d", round))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return m, err
	}
	port, err := freePort()
	if err != nil {
		return m, err
	}
	args, err := baselineArgs(art.args, art.instanceDir, dir, port, fmt.Sprintf("baseline-%d", round))
	if err != nil {
		return m, err
	}
	ssh := sshClient{
		key: filepath.Join(art.dir, "id_ed25519"), user: art.username, port: port,
		control: filepath.Join(dir, "ssh.ctl"), log: filepath.Join(dir, "ssh.log"),
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	pidFile := filepath.Join(dir, "qemu.pid")
	pidSeen := watchFile(watchCtx, pidFile)
	b.mu.Lock()
	b.running = append(b.running, dir)
	b.mu.Unlock()
	defer func() { err = errors.Join(err, b.stop(dir, ssh)) }()

	start := time.Now()
	seedDir := filepath.Join(art.dir, "seed-data")
	localds := []string{filepath.Join(dir, "seed.iso"), filepath.Join(seedDir, "user-data"), filepath.Join(seedDir, "meta-data")}
	if _, err := os.Stat(filepath.Join(seedDir, "network-config")); err == nil {
		localds = append([]string{"-N", filepath.Join(seedDir, "network-config")}, localds...)
	}
	if err := runTool(ctx, "cloud-localds", localds...); err != nil {
		return m, err
	}
	disk := filepath.Join(dir, "disk.qcow2")
	if err := runTool(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", art.baseFormat, "-b", art.baseImage, disk); err != nil {
		return m, err
	}
	if m.overlay, err = statOverlay(disk); err != nil {
		return m, err
	}
	qemuImg := startQemuImgInfo(disk)

	launched := time.Since(start)
	if err := launchQEMU(ctx, args, filepath.Join(dir, "qemu.log")); err != nil {
		return m, err
	}
	m.qemuStart, m.qemuStartFromStep = pidTimes(pidSeen, start, launched)
	m.stages = map[string]time.Duration{"start_vm": launched}
	m.order = []string{"start_vm"}

	if err := ssh.waitUp(ctx, b.cfg.pollInterval, b.cfg.sshTimeout); err != nil {
		return m, err
	}
	m.toSSH = time.Since(start)
	if err := ssh.waitCloudInit(ctx, b.cfg.pollInterval, b.cfg.cloudInitTimeout); err != nil {
		return m, err
	}
	m.toCloudInit = time.Since(start)
	m.toReady = m.toCloudInit
	serialLog := filepath.Join(dir, "serial.log")
	m.guestUptime = guestUptime(serialLog)
	if err := keepLog(b.cfg.logs, fmt.Sprintf("baseline-%d-serial.log", round), serialLog); err != nil {
		return m, err
	}

	r := <-qemuImg
	if r.err != nil {
		return m, r.err
	}
	m.qemuImgActual = r.actualSize
	m.loadAfter = loadAverage()
	return m, nil
}

// launchQEMU runs QEMU with argv (argv[0] is the binary) and returns once
// the foreground process exits, which -daemonize makes happen when the VM
// runs or start-up failed, as in vmgenie's driver.
func launchQEMU(ctx context.Context, argv []string, logPath string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(logPath)
		return fmt.Errorf("QEMU failed to start: %w: %s", err, strings.TrimSpace(string(data)))
	}
	return nil
}

// stop ends the baseline guest's SSH master and QEMU and removes dir.
func (b *baseline) stop(dir string, ssh sshClient) error {
	ssh.closeMaster()
	err := stopQEMU(dir)
	if err == nil {
		err = os.RemoveAll(dir)
		b.mu.Lock()
		b.running = slices.DeleteFunc(b.running, func(d string) bool { return d == dir })
		b.mu.Unlock()
	}
	return err
}

// cleanup stops every baseline guest that still runs.
func (b *baseline) cleanup(context.Context) error {
	b.mu.Lock()
	dirs := slices.Clone(b.running)
	b.mu.Unlock()
	var errs []error
	for _, dir := range dirs {
		errs = append(errs, b.stop(dir, sshClient{control: filepath.Join(dir, "ssh.ctl")}))
	}
	return errors.Join(errs...)
}

// stopQEMU ends the QEMU whose pid file is in dir: SIGTERM, then SIGKILL
// after 10 s. It signals the pid only while that process is QEMU with this
// pid file, so another process that reuses the pid is left alone.
func stopQEMU(dir string) error {
	pidFile := filepath.Join(dir, "qemu.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("invalid pid file %s: %q", pidFile, data)
	}
	if !isQEMUWith(pid, pidFile) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for isQEMUWith(pid, pidFile) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(10 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runTool runs a command. Its error contains the command's output.
func runTool(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
