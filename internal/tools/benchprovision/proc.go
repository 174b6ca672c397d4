//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// watchInterval is how often watchFile looks for the file. At 1 ms the
// poll costs little CPU and adds at most 1 ms to the measured time.
const watchInterval = time.Millisecond

// watchFile sends the time path first exists, or nothing when ctx ends
// first. The channel is buffered for that one value, so the watcher does
// not block when no one reads it.
func watchFile(ctx context.Context, path string) <-chan time.Time {
	seen := make(chan time.Time, 1)
	go func() {
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			if _, err := os.Stat(path); err == nil {
				seen <- time.Now()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return seen
}

// overlaySize is a new overlay's size in bytes: apparent (the file size)
// and allocated (blocks on disk, which qemu-img reports as actual-size).
type overlaySize struct {
	apparent  int64
	allocated int64
}

func statOverlay(path string) (overlaySize, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return overlaySize{}, fmt.Errorf("stat the new overlay: %w", err)
	}
	// st_blocks counts 512-byte units whatever the file system's block size.
	return overlaySize{apparent: st.Size, allocated: st.Blocks * 512}, nil
}

type qemuImgResult struct {
	actualSize int64
	err        error
}

// startQemuImgInfo runs "qemu-img info --output json" on path in the
// background and delivers its actual-size. -U lets it read an image that a
// starting QEMU already holds open.
func startQemuImgInfo(path string) chan qemuImgResult {
	result := make(chan qemuImgResult, 1)
	go func() {
		out, err := exec.Command("qemu-img", "info", "--output", "json", "-U", path).Output()
		if err != nil {
			result <- qemuImgResult{err: fmt.Errorf("qemu-img info %s: %w", path, err)}
			return
		}
		var info struct {
			ActualSize int64 `json:"actual-size"`
		}
		if err := json.Unmarshal(out, &info); err != nil {
			result <- qemuImgResult{err: fmt.Errorf("parse qemu-img info of %s: %w", path, err)}
			return
		}
		result <- qemuImgResult{actualSize: info.ActualSize}
	}()
	return result
}

// isQEMUWith reports whether pid is a QEMU process started with pidFile.
func isQEMUWith(pid int, pidFile string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "qemu-system") {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err == nil && strings.Contains(string(stat), ") Z ") {
		return false
	}
	for _, arg := range args {
		if arg == pidFile {
			return true
		}
	}
	return false
}

// killLeftovers kills QEMU processes whose command line refers to a file
// under work. Normal cleanup leaves none; this catches a guest whose owner
// failed to stop it.
func killLeftovers(work string) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var errs []error
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.Contains(filepath.Base(args[0]), "qemu-system") || !strings.Contains(string(cmdline), work+string(filepath.Separator)) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill leftover QEMU %d: %w", pid, err))
			continue
		}
		errs = append(errs, fmt.Errorf("killed leftover QEMU %d, which cleanup had missed", pid))
	}
	return errors.Join(errs...)
}

// warmPageCache reads the files once, so the first round does not pay for
// reading the base image from disk while later rounds find it cached.
func warmPageCache(paths []string) error {
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("read %s into the page cache: %w", path, err)
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s into the page cache: %w", path, err)
		}
	}
	return nil
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

func numCPU() int { return runtime.NumCPU() }
