//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// cloudInitFinished matches the line cloud-init's final stage writes to
// the console, such as "Cloud-init v. 22.4.2 finished at Fri, 04 Dec 2026
// 21:19:56 +0000. Datasource DataSourceNoCloud [seed=/dev/sr0][dsmode=net].
// Up 57.00 seconds". The uptime is the guest's own clock since its kernel
// started.
var cloudInitFinished = regexp.MustCompile(`Cloud-init v\. \S+ finished at .* Up ([0-9.]+) seconds`)

// guestUptime returns the guest's uptime when cloud-init finished, read
// from its serial log, or -1 when the log has no such line.
func guestUptime(serialLog string) time.Duration {
	data, err := os.ReadFile(serialLog)
	if err != nil {
		return -1
	}
	match := cloudInitFinished.FindSubmatch(data)
	if match == nil {
		return -1
	}
	seconds, err := strconv.ParseFloat(string(match[1]), 64)
	if err != nil {
		return -1
	}
	return time.Duration(seconds * float64(time.Second))
}

// serviceEvents are the guest waits as the service logged them, measured
// from the request. The times are -1 when the line is missing.
type serviceEvents struct {
	sshUp         time.Duration
	sshAttempts   int
	cloudInitDone time.Duration
}

// readServiceEvents finds the "SSH is up" and "cloud-init finished" lines
// for vm in the service's text log. slog writes time= in RFC 3339 with
// milliseconds, so the times are good to about 1 ms.
func readServiceEvents(logFile, vm string, start time.Time) (serviceEvents, error) {
	events := serviceEvents{sshUp: -1, cloudInitDone: -1}
	f, err := os.Open(logFile)
	if err != nil {
		return events, fmt.Errorf("read the service log: %w", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.Contains(line, " vm="+vm+" ") {
			continue
		}
		switch {
		case strings.Contains(line, `msg="SSH is up"`):
			events.sshUp = logTime(line, start)
			events.sshAttempts, _ = strconv.Atoi(logField(line, "attempts"))
		case strings.Contains(line, `msg="cloud-init finished"`):
			events.cloudInitDone = logTime(line, start)
		}
	}
	return events, scanner.Err()
}

// logField returns the value of key=value in a slog text line.
func logField(line, key string) string {
	_, rest, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		if !strings.HasPrefix(line, key+"=") {
			return ""
		}
		rest = strings.TrimPrefix(line, key+"=")
	}
	value, _, _ := strings.Cut(rest, " ")
	return value
}

func logTime(line string, start time.Time) time.Duration {
	at, err := time.Parse(time.RFC3339Nano, logField(line, "time"))
	if err != nil {
		return -1
	}
	return at.Sub(start)
}

// keepLog copies a log file into dir under name, when dir is set.
func keepLog(dir, name, path string) error {
	if dir == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("keep %s: %w", path, err)
	}
	return os.WriteFile(filepath.Join(dir, name), data, 0o644)
}
