//go:build linux

// Command benchservice measures status round trips against real
// "vmgenie serve" processes: one that serves many connections at once and
// one started with --max-connections 1, which serves one connection at a
// time. It runs both in one run with 1 and 32 concurrent clients, prints
// requests per second with p50 and p99 latency, the ratio between the two
// servers, and the server's resident memory.
//
// Usage: go run ./internal/tools/benchservice -binary bin/vmgenie
//
// It builds on Linux only, because it reads CPU time and memory from /proc.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmgenie/vmgenie/internal/client"
	"github.com/vmgenie/vmgenie/internal/protocol"
)

// Targets of the service benchmark.
const (
	targetRequestsPerSecond = 5000
	targetP99               = 5 * time.Millisecond
	targetIdleRSSKiB        = 25 * 1024
)

type config struct {
	binary   string
	duration time.Duration
	warmup   time.Duration
	clients  []int
	// serverProcs sets GOMAXPROCS for the server processes; 0 keeps the
	// Go default (the number of CPUs).
	serverProcs int
}

// result is one measured scenario.
type result struct {
	server   string
	clients  int
	stalled  bool // one more client sent half a request and stalled
	requests int
	failures int
	elapsed  time.Duration
	p50, p99 time.Duration
	// serverCPU and clientCPU are the user plus system CPU time the server
	// process and this process spent while measuring.
	serverCPU, clientCPU time.Duration
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// server is a running "vmgenie serve" process.
type server struct {
	name    string
	cmd     *exec.Cmd
	address string
	logPath string
}

func main() {
	cfg := config{}
	var clients string
	flag.StringVar(&cfg.binary, "binary", "bin/vmgenie", "vmgenie binary to benchmark")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "measuring time per scenario")
	flag.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "unmeasured time before each scenario")
	flag.StringVar(&clients, "clients", "1,32", "comma-separated numbers of concurrent clients")
	flag.IntVar(&cfg.serverProcs, "server-gomaxprocs", 0, "GOMAXPROCS of the server processes (0: the Go default)")
	flag.Parse()

	for _, field := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benchservice: invalid -clients entry %q: use positive integers such as 1,32\n", field)
			os.Exit(2)
		}
		cfg.clients = append(cfg.clients, n)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "benchservice: %v\n", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	dir, err := os.MkdirTemp("", "vmgbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	serverProcs := "default"
	if cfg.serverProcs > 0 {
		serverProcs = strconv.Itoa(cfg.serverProcs)
	}
	fmt.Printf("vmgenie service benchmark: %s, %d CPUs, client GOMAXPROCS %d, server GOMAXPROCS %s, %s per scenario, load average %s\n\n",
		runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), serverProcs, cfg.duration, loadAverage())

	servers := []struct {
		name           string
		maxConnections int
	}{
		{"concurrent (max-connections 64)", 64},
		{"one at a time (max-connections 1)", 1},
	}
	var results []result
	var idleRSS, loadedRSS int
	for i, spec := range servers {
		srv, err := startServer(cfg, dir, i, spec.name, spec.maxConnections)
		if err != nil {
			return err
		}
		if i == 0 {
			time.Sleep(time.Second)
			if idleRSS, err = readRSSKiB(srv.cmd.Process.Pid, "VmRSS"); err != nil {
				srv.stop()
				return err
			}
		}
		for _, n := range cfg.clients {
			r, err := measure(srv, n, false, cfg)
			if err != nil {
				srv.stop()
				return err
			}
			results = append(results, r)
		}
		r, err := measure(srv, slices.Max(cfg.clients), true, cfg)
		if err != nil {
			srv.stop()
			return err
		}
		results = append(results, r)
		if i == 0 {
			if loadedRSS, err = readRSSKiB(srv.cmd.Process.Pid, "VmHWM"); err != nil {
				srv.stop()
				return err
			}
		}
		if err := srv.stop(); err != nil {
			return err
		}
	}

	report(results, cfg.clients, idleRSS, loadedRSS)
	return nil
}

func startServer(cfg config, dir string, index int, name string, maxConnections int) (*server, error) {
	binary := cfg.binary
	address := filepath.Join(dir, fmt.Sprintf("s%d.sock", index))
	logPath := filepath.Join(dir, fmt.Sprintf("s%d.log", index))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	// A config of its own keeps the server out of the user's data directory
	// and without a hypervisor driver, which status does not need.
	configPath := filepath.Join(dir, fmt.Sprintf("s%d.yml", index))
	configText := fmt.Sprintf("data_dir: %s\nlog:\n  file: %s\ndriver: none\n",
		filepath.Join(dir, fmt.Sprintf("data%d", index)), filepath.Join(dir, fmt.Sprintf("s%d.service.log", index)))
	if err := os.WriteFile(configPath, []byte(configText), 0o600); err != nil {
		return nil, err
	}

	// The request log stays at level info, as in production, so its cost
	// is part of the measurement.
	cmd := exec.Command(binary, "serve", "--user", "--config", configPath, "--socket", address,
		"--max-connections", strconv.Itoa(maxConnections), "--log-level", "info")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cfg.serverProcs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.serverProcs))
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s failed: %w", binary, err)
	}
	srv := &server{name: name, cmd: cmd, address: address, logPath: logPath}

	c := client.New(address)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Call(ctx, "status", nil)
		cancel()
		if err == nil {
			return srv, nil
		}
		if time.Now().After(deadline) {
			srv.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("the %s server did not respond to status within 10s: %w\n%s", name, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping the %s server (pid %d) failed: %w", s.name, s.cmd.Process.Pid, err)
	}
	if err := s.cmd.Wait(); err != nil {
		log, _ := os.ReadFile(s.logPath)
		return fmt.Errorf("the %s server exited with %w\n%s", s.name, err, log)
	}
	return nil
}

// measure runs n clients that each send status requests back to back, one
// connection per request, and records every round trip's latency. With
// stall, one more connection sends half a request line first and then
// waits for the whole run; failed requests are then counted, not fatal,
// because a server that serves one connection at a time cannot respond
// until the stalled request times out.
func measure(srv *server, n int, stall bool, cfg config) (result, error) {
	c := client.New(srv.address)
	if stall {
		conn, err := net.Dial("unix", srv.address)
		if err != nil {
			return result{}, fmt.Errorf("opening the stalled connection to the %s server failed: %w", srv.name, err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte(`{"id": "stalled", "comm`)); err != nil {
			return result{}, err
		}
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		firstErr  error
	)
	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	stopAt := measureFrom.Add(cfg.duration)

	var serverCPUStart, clientCPUStart time.Duration
	cpuSampled := make(chan error, 1)
	go func() {
		time.Sleep(time.Until(measureFrom))
		var err error
		serverCPUStart, err = processCPU(srv.cmd.Process.Pid)
		clientCPUStart = selfCPU()
		cpuSampled <- err
	}()

	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			localFailures := 0
			var localErr error
			for {
				t0 := time.Now()
				if t0.After(stopAt) {
					break
				}
				ctx, cancel := context.WithDeadline(context.Background(), stopAt.Add(time.Second))
				resp, err := c.Call(ctx, "status", nil)
				cancel()
				if err == nil && resp.Status != protocol.StatusOK {
					err = errors.New("status " + resp.Status)
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					localFailures++
					if localErr == nil {
						localErr = err
					}
					continue
				}
				if time.Now().After(stopAt) {
					break
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			failures += localFailures
			if firstErr == nil {
				firstErr = localErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := <-cpuSampled; err != nil {
		return result{}, err
	}
	serverCPUEnd, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	clientCPUEnd := selfCPU()

	r := result{server: srv.name, clients: n, stalled: stall, requests: len(latencies), failures: failures, elapsed: cfg.duration,
		serverCPU: serverCPUEnd - serverCPUStart, clientCPU: clientCPUEnd - clientCPUStart}
	if stall {
		if len(latencies) > 0 {
			slices.Sort(latencies)
			r.p50, r.p99 = percentile(latencies, 50), percentile(latencies, 99)
		}
		return r, nil
	}
	if failures > 0 {
		return result{}, fmt.Errorf("%d of %d status requests to the %s server failed, first: %w",
			failures, failures+len(latencies), srv.name, firstErr)
	}
	if len(latencies) == 0 {
		return result{}, fmt.Errorf("no status request to the %s server finished", srv.name)
	}
	slices.Sort(latencies)
	r.p50, r.p99 = percentile(latencies, 50), percentile(latencies, 99)
	return r, nil
}

// processCPU reads the user plus system CPU time of pid from
// /proc/PID/stat, whose fields 14 and 15 count clock ticks (proc(5)).
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's CPU time failed (this needs Linux /proc): %w", err)
	}
	// The command name in field 2 may contain spaces, so count fields
	// after its closing parenthesis: field 3 is the first one there.
	text := string(data)
	fields := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat has %d fields after the command name, want at least 13", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat failed: %w", pid, err)
	}
	// NOTE: assumes USER_HZ is 100, the value on every mainstream Linux
	// architecture; reading sysconf(_SC_CLK_TCK) would need cgo.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// selfCPU returns the user plus system CPU time of this process.
func selfCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// readRSSKiB reads a memory field such as VmRSS from /proc/PID/status.
func readRSSKiB(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's memory use failed (this needs Linux /proc): %w", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		if err != nil {
			return 0, fmt.Errorf("parsing %s %q from /proc/%d/status failed: %w", field, value, pid, err)
		}
		return kib, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s line", pid, field)
}

func report(results []result, clients []int, idleRSS, loadedRSS int) {
	fmt.Printf("| server | clients | requests | failed | req/s | p50 | p99 | server CPU/req | client CPU/req |\n")
	fmt.Printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Printf("| %s | %s | %d | %d | %.0f | %s | %s | %s | %s |\n", r.server, r.label(), r.requests, r.failures, r.rate(),
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), perRequest(r.serverCPU, r.requests), perRequest(r.clientCPU, r.requests))
	}
	fmt.Println()

	byKey := map[string]result{}
	for _, r := range results {
		byKey[r.server[:3]+" "+r.label()] = r
	}
	labels := []string{}
	for _, n := range clients {
		labels = append(labels, strconv.Itoa(n))
	}
	labels = append(labels, result{clients: slices.Max(clients), stalled: true}.label())
	for _, label := range labels {
		concurrent, sequential := byKey["con "+label], byKey["one "+label]
		ratio := "not defined, because no request finished on the one-at-a-time server"
		if sequential.requests > 0 {
			ratio = fmt.Sprintf("%.2fx", concurrent.rate()/sequential.rate())
		}
		fmt.Printf("req/s ratio concurrent / one at a time, %s clients: %s\n", label, ratio)
	}
	fmt.Printf("server RSS: %.1f MiB idle after start (VmRSS), %.1f MiB peak under load (VmHWM)\n",
		float64(idleRSS)/1024, float64(loadedRSS)/1024)
	fmt.Printf("load average at the end: %s\n\n", loadAverage())

	if r, ok := byKey["con 32"]; ok {
		check("at least 5000 req/s with 32 clients", r.rate() >= targetRequestsPerSecond, fmt.Sprintf("%.0f req/s", r.rate()))
		check("p99 under 5 ms with 32 clients", r.p99 < targetP99, r.p99.Round(time.Microsecond).String())
	}
	check("idle RSS under 25 MB", idleRSS < targetIdleRSSKiB, fmt.Sprintf("%.1f MiB", float64(idleRSS)/1024))
}

func perRequest(total time.Duration, requests int) string {
	if requests == 0 {
		return "-"
	}
	return (total / time.Duration(requests)).Round(time.Microsecond).String()
}

func (r result) label() string {
	if r.stalled {
		return strconv.Itoa(r.clients) + " + 1 stalled"
	}
	return strconv.Itoa(r.clients)
}

// loadAverage returns the 1, 5 and 15 minute load averages, because other
// work on the machine shifts every number above.
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

func check(target string, ok bool, measured string) {
	verdict := "met"
	if !ok {
		verdict = "MISSED"
	}
	fmt.Printf("target %s: %s (%s)\n", target, verdict, measured)
}
