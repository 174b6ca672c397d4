//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestServiceUnderSystemd installs vmgenie as a systemd service inside a
// Debian 12 guest, whose PID 1 is systemd 252. The unit must start, serve
// requests on the system socket, and write its log file despite the
// hardening. Then it is stopped, started and uninstalled. The guest has no
// QEMU, so its service runs without a driver.
func TestServiceUnderSystemd(t *testing.T) {
	e := newEnv(t, "")
	e.importImage()
	const name = "systemd-host"
	if out, stderr, err := e.run("provision", name, "--os", "debian", "--version", "12", "--cpus", "2", "--memory", "1G", "--var", "TIMEZONE=Etc/UTC"); err != nil {
		t.Fatalf("provision: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}

	// Copy the binary in through exec's standard input.
	binary, err := os.ReadFile(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.bin, "exec", name, "--", "sudo", "sh", "-c",
		"cat > /usr/local/bin/vmgenie && chmod 755 /usr/local/bin/vmgenie")
	cmd.Env = append(os.Environ(), "VMGENIE_SOCKET="+e.socket, "VMGENIE_CONFIG="+e.config)
	cmd.Stdin = bytes.NewReader(binary)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy vmgenie into the guest: %v\n%s", err, out)
	}
	guest := func(args ...string) (string, error) {
		out, stderr, err := e.run(append([]string{"exec", name, "--"}, args...)...)
		return strings.TrimSpace(out + stderr), err
	}
	mustGuest := func(args ...string) string {
		t.Helper()
		out, err := guest(args...)
		if err != nil {
			t.Fatalf("guest %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	if got := mustGuest("ps", "-p", "1", "-o", "comm="); got != "systemd" {
		t.Fatalf("guest PID 1 is %q, want systemd", got)
	}

	out := mustGuest("sudo", "vmgenie", "service", "install")
	for _, want := range []string{"Installed, enabled and started vmgenie.service", `Created the system group "vmgenie"`} {
		if !strings.Contains(out, want) {
			t.Errorf("service install printed %q, want %q", out, want)
		}
	}

	t.Run("unit is active and serves", func(t *testing.T) {
		if got, _ := guest("systemctl", "is-active", "vmgenie.service"); got != "active" {
			t.Errorf("is-active = %q, want active; journal:\n%s", got, journal(guest))
		}
		if got, _ := guest("systemctl", "is-enabled", "vmgenie.service"); got != "enabled" {
			t.Errorf("is-enabled = %q, want enabled", got)
		}
		status := mustGuest("sudo", "vmgenie", "status")
		if !strings.Contains(status, "Service is running.") {
			t.Errorf("status in the guest:\n%s", status)
		}
		socket := mustGuest("stat", "-c", "%a %G", "/run/vmgenie/vmgenie.sock")
		if socket != "660 vmgenie" {
			t.Errorf("socket mode and group = %q, want 660 vmgenie", socket)
		}
	})

	t.Run("a user outside the group is rejected", func(t *testing.T) {
		out, err := guest("vmgenie", "status")
		if err == nil || !strings.Contains(out, "permission denied") {
			t.Errorf("status as a user outside group vmgenie: err %v, output %q; want permission denied", err, out)
		}
	})

	t.Run("log file is written under ProtectSystem", func(t *testing.T) {
		logs := mustGuest("sudo", "vmgenie", "logs", "-n", "50")
		for _, want := range []string{`msg="configuration loaded"`, `msg="service started"`, "command=status"} {
			if !strings.Contains(logs, want) {
				t.Errorf("vmgenie logs lacks %q:\n%s", want, logs)
			}
		}
		mode := mustGuest("sudo", "stat", "-c", "%a", "/var/lib/vmgenie/logs/vmgenie.log")
		if mode != "600" {
			t.Errorf("log file mode = %s, want 600", mode)
		}
	})

	t.Run("status stop start", func(t *testing.T) {
		var st serviceStatusJSON
		if err := json.Unmarshal([]byte(mustGuest("sudo", "vmgenie", "service", "status", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if !st.Installed || st.State != "active" || st.Startup != "enabled" || st.Path != "/etc/systemd/system/vmgenie.service" {
			t.Errorf("service status = %+v", st)
		}
		mustGuest("sudo", "vmgenie", "service", "stop")
		if got, _ := guest("systemctl", "is-active", "vmgenie.service"); got != "inactive" {
			t.Errorf("is-active after stop = %q, want inactive; journal:\n%s", got, journal(guest))
		}
		mustGuest("sudo", "vmgenie", "service", "start")
		if got, _ := guest("systemctl", "is-active", "vmgenie.service"); got != "active" {
			t.Errorf("is-active after start = %q, want active", got)
		}
		if status := mustGuest("sudo", "vmgenie", "status"); !strings.Contains(status, "Service is running.") {
			t.Errorf("status after restart:\n%s", status)
		}
	})

	t.Run("uninstall removes the unit", func(t *testing.T) {
		mustGuest("sudo", "vmgenie", "service", "uninstall")
		if out, _ := guest("test", "-e", "/etc/systemd/system/vmgenie.service"); out != "" {
			t.Errorf("test -e printed %q", out)
		}
		if _, err := guest("test", "-e", "/etc/systemd/system/vmgenie.service"); err == nil {
			t.Error("unit file still exists after uninstall")
		}
		if got, _ := guest("systemctl", "is-active", "vmgenie.service"); got != "inactive" {
			t.Errorf("is-active after uninstall = %q, want inactive", got)
		}
	})
}

// serviceStatusJSON is the output of "vmgenie service status -o json".
type serviceStatusJSON struct {
	Installed bool   `json:"installed"`
	State     string `json:"state"`
	Startup   string `json:"startup"`
	Path      string `json:"path"`
}

// journal returns the unit's last journal lines, for failure messages.
func journal(guest func(...string) (string, error)) string {
	out, _ := guest("sudo", "journalctl", "-u", "vmgenie.service", "-n", "40", "--no-pager")
	return out
}
