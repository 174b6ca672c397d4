//go:build linux

// Command benchprovision measures how long vmgenie takes to provision the
// Debian 12 test guest, side by side with a bare baseline that does the
// same work by hand. The baseline runs cloud-localds for the seed, qemu-img
// for the overlay and QEMU with the argv that vmgenie's driver used. Then
// the system ssh client polls for SSH and for cloud-init's boot-finished
// marker.
//
// The two sides alternate (vmgenie, baseline, vmgenie, baseline, ...) so
// that load from other processes falls on both alike. Each baseline round
// reuses the seed data, SSH key and QEMU argv of the vmgenie round before
// it, so both boot the same image with the same user-data and the same
// QEMU options. Every guest runs with QEMU user networking restrict=on and
// is reached only through its port forward on 127.0.0.1.
//
// Usage:
//
//	benchprovision -binary bin/vmgenie -image-dir DIR [-rounds 3] [-work DIR]
//
// scripts/bench-provision.sh builds everything and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vmgenie/vmgenie/internal/guest"
)

// Targets of the provisioning benchmark.
const (
	// targetOverheadPercent is the most that vmgenie's median time to SSH
	// and to cloud-init done may exceed the baseline's, in percent.
	targetOverheadPercent = 5.0
	// targetToQEMU bounds the time from sending the provision request to
	// QEMU's pid file appearing.
	targetToQEMU = 300 * time.Millisecond
	// targetOverlayBytes bounds the overlay's allocated size right after
	// it is created (1 MB).
	targetOverlayBytes = 1_000_000
)

type config struct {
	binary   string
	imageDir string
	work     string
	// logs, when set, is where each guest's serial log and the service
	// log are kept.
	logs   string
	rounds int
	// pollInterval is the baseline's pause between SSH attempts. It
	// defaults to vmgenie's own (guest.PollInterval), so neither side
	// detects a ready guest sooner only because it polls more often.
	pollInterval     time.Duration
	sshTimeout       time.Duration
	cloudInitTimeout time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.binary, "binary", "bin/vmgenie", "vmgenie binary to benchmark")
	flag.StringVar(&cfg.imageDir, "image-dir", "", "directory of the Debian 12 test image (the last line scripts/build-test-image.sh prints)")
	flag.StringVar(&cfg.work, "work", "", "working directory, created and removed by the run (default: a new directory under $TMPDIR)")
	flag.StringVar(&cfg.logs, "logs", "", "directory to keep each guest's serial log and the service log in (default: keep none)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "number of rounds; each round provisions one guest with vmgenie and one with the baseline")
	flag.DurationVar(&cfg.pollInterval, "poll-interval", guest.PollInterval, "baseline's pause between SSH attempts; the default is vmgenie's own")
	flag.DurationVar(&cfg.sshTimeout, "ssh-timeout", 10*time.Minute, "how long each side may wait for SSH")
	flag.DurationVar(&cfg.cloudInitTimeout, "cloud-init-timeout", 15*time.Minute, "how long each side may wait for cloud-init after SSH")
	flag.Parse()

	if cfg.imageDir == "" {
		fail(2, errors.New("missing -image-dir: pass the directory that scripts/build-test-image.sh prints"))
	}
	if cfg.rounds < 1 {
		fail(2, fmt.Errorf("invalid -rounds %d: give at least 1", cfg.rounds))
	}
	binary, err := filepath.Abs(cfg.binary)
	if err != nil {
		fail(2, err)
	}
	cfg.binary = binary

	// Ctrl-C and SIGTERM cancel ctx, and run returns after removing every
	// VM, process and file it made.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			fail(130, fmt.Errorf("interrupted: %w", err))
		}
		fail(1, err)
	}
}

func fail(code int, err error) {
	fmt.Fprintf(os.Stderr, "benchprovision: %v\n", err)
	os.Exit(code)
}

func run(ctx context.Context, cfg config) (err error) {
	img, err := loadImage(cfg.imageDir)
	if err != nil {
		return err
	}
	if cfg.work == "" {
		cfg.work, err = os.MkdirTemp("", "vmgbp-")
	} else {
		err = os.Mkdir(cfg.work, 0o700)
	}
	if err != nil {
		return fmt.Errorf("create the working directory: %w", err)
	}
	defer os.RemoveAll(cfg.work)

	if cfg.logs != "" {
		if err := os.MkdirAll(cfg.logs, 0o755); err != nil {
			return fmt.Errorf("create the -logs directory: %w", err)
		}
	}
	fmt.Printf("vmgenie provisioning benchmark: %d rounds, %d CPUs, load average %s\n", cfg.rounds, numCPU(), loadAverage())
	fmt.Printf("image: %s (kernel %s)\n", cfg.imageDir, img.KernelVersion)
	fmt.Printf("baseline SSH poll interval: %s (vmgenie's: %s)\n", cfg.pollInterval, guest.PollInterval)
	fmt.Printf("working directory: %s\n\n", cfg.work)
	loadBefore := loadAverage()

	svc, err := startService(ctx, cfg)
	if err != nil {
		return err
	}
	base := &baseline{cfg: cfg}
	defer func() {
		// Cleanup runs on a fresh context, because ctx may be the reason
		// for stopping.
		cleanupCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		err = errors.Join(err, base.cleanup(cleanupCtx), svc.cleanup(cleanupCtx), killLeftovers(cfg.work),
			keepLog(cfg.logs, "service.log", svc.logFile))
	}()

	if err := svc.importImage(ctx, img); err != nil {
		return err
	}
	if err := warmPageCache(svc.baseImagePaths()); err != nil {
		return err
	}

	var results []measurement
	for round := 1; round <= cfg.rounds; round++ {
		v, art, err := svc.provision(ctx, round)
		if err != nil {
			return fmt.Errorf("round %d, vmgenie: %w", round, err)
		}
		printMeasurement(v)
		results = append(results, v)

		b, err := base.provision(ctx, round, art)
		if err != nil {
			return fmt.Errorf("round %d, baseline: %w", round, err)
		}
		printMeasurement(b)
		results = append(results, b)
	}
	fmt.Println()
	printSummary(results, loadBefore, loadAverage())
	return nil
}
