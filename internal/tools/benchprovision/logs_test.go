//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGuestUptimeFromSerialLog(t *testing.T) {
	dir := t.TempDir()
	serial := filepath.Join(dir, "serial.log")
	log := "[   30.1] cloud-init[412]: Cloud-init v. 22.4.2 running 'modules:final' at Fri, 04 Dec 2026 21:19:50 +0000. Up 51.20 seconds.\r\n" +
		"[   35.9] cloud-init[412]: Cloud-init v. 22.4.2 finished at Fri, 04 Dec 2026 21:19:56 +0000. Datasource DataSourceNoCloud [seed=/dev/sr0][dsmode=net].  Up 57.25 seconds\r\n"
	if err := os.WriteFile(serial, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := guestUptime(serial), 57250*time.Millisecond; got != want {
		t.Errorf("guestUptime = %s, want %s", got, want)
	}
	if got := guestUptime(filepath.Join(dir, "missing.log")); got != -1 {
		t.Errorf("guestUptime of a missing log = %s, want -1", got)
	}
}

func TestReadServiceEvents(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "service.log")
	lines := `time=2026-12-04T21:15:30.941Z level=INFO msg="SSH is up" vm=bench-10 operation_id=op-2 instance=bench-10 address=127.0.0.1:1 attempts=9 elapsed=1s
time=2026-12-04T21:15:31.500Z level=INFO msg="SSH is up" vm=bench-1 operation_id=op-1 instance=bench-1 address=127.0.0.1:2 attempts=3 elapsed=54.612s
time=2026-12-04T21:15:44.201Z level=INFO msg="cloud-init finished" vm=bench-1 operation_id=op-1 instance=bench-1 instance_id=i-1 elapsed=13.26s
`
	if err := os.WriteFile(logFile, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 4, 21, 15, 0, 0, time.UTC)
	events, err := readServiceEvents(logFile, "bench-1", start)
	if err != nil {
		t.Fatal(err)
	}
	if want := 31500 * time.Millisecond; events.sshUp != want {
		t.Errorf("sshUp = %s, want %s", events.sshUp, want)
	}
	if events.sshAttempts != 3 {
		t.Errorf("sshAttempts = %d, want 3 (the line of bench-10 must not match)", events.sshAttempts)
	}
	if want := 44201 * time.Millisecond; events.cloudInitDone != want {
		t.Errorf("cloudInitDone = %s, want %s", events.cloudInitDone, want)
	}
}
