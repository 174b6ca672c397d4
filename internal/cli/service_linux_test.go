package cli

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/systemd"
)

// fakeProgram writes a shell script named name that appends its arguments
// to a log, one call a line, prints stdout and exits 0. It returns the
// script's directory and the log's path.
func fakeProgram(t *testing.T, name, stdout string) (dir, logPath string) {
	t.Helper()
	dir = t.TempDir()
	logPath = filepath.Join(dir, name+".calls")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + logPath + "'\n"
	if stdout != "" {
		script += "echo '" + stdout + "'\n"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, logPath
}

func readCalls(t *testing.T, logPath string) []string {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// testBackend returns a systemd backend whose unit directory, systemctl,
// groupadd and binary path are all fakes.
func testBackend(t *testing.T, userMode bool, cfgText string) (*systemdBackend, string, string) {
	t.Helper()
	systemctlDir, systemctlCalls := fakeProgram(t, "systemctl", "")
	groupaddDir, groupaddCalls := fakeProgram(t, "groupadd", "")
	if !strings.Contains(cfgText, "data_dir:") {
		// install creates the data directory, so keep it out of /var/lib.
		cfgText = "data_dir: " + filepath.Join(t.TempDir(), "data") + "\n" + cfgText
	}
	cfg, err := config.Parse([]byte(cfgText), "test.yml", userMode)
	if err != nil {
		t.Fatal(err)
	}
	return &systemdBackend{
		a:   &app{},
		cfg: cfg,
		manager: &systemd.Manager{
			User:      userMode,
			UnitDir:   filepath.Join(t.TempDir(), "units"),
			Systemctl: filepath.Join(systemctlDir, "systemctl"),
		},
		executable:  func() (string, error) { return "/opt/vm genie/bin/vmgenie", nil },
		euid:        func() int { return 0 },
		lookupGroup: func(string) error { return nil },
		groupadd:    filepath.Join(groupaddDir, "groupadd"),
	}, systemctlCalls, groupaddCalls
}

func TestServiceInstallSystemUnit(t *testing.T) {
	root := t.TempDir()
	dataDir := filepath.Join(root, "vm data")
	logDir := filepath.Join(root, "log", "vmgenie")
	b, systemctlCalls, groupaddCalls := testBackend(t, false,
		"data_dir: "+dataDir+"\nlog:\n  file: "+logDir+"/vmgenie.log\nlimits:\n  shutdown_timeout: 45s\n")
	msg, err := b.install(context.Background())
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if !strings.Contains(msg, "Installed, enabled and started vmgenie.service (unit file "+b.manager.UnitPath()+")") {
		t.Errorf("message = %q", msg)
	}

	unit := readText(t, b.manager.UnitPath())
	for _, want := range []string{
		"ExecStart=\"/opt/vm genie/bin/vmgenie\" \"serve\"\n",
		"ReadWritePaths=\"-" + dataDir + "\" \"-" + logDir + "\"\n",
		"TimeoutStopSec=60\n",
		"RuntimeDirectory=vmgenie\n",
		"WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	wantCalls := []string{"daemon-reload", "enable --now vmgenie.service"}
	if got := readCalls(t, systemctlCalls); strings.Join(got, "|") != strings.Join(wantCalls, "|") {
		t.Errorf("systemctl calls = %q, want %q", got, wantCalls)
	}
	if got := readCalls(t, groupaddCalls); got != nil {
		t.Errorf("groupadd was called %q although the group exists", got)
	}
	for _, dir := range []string{dataDir, logDir} {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			t.Errorf("install did not create %s: %v", dir, err)
		}
	}
}

func TestServiceInstallCreatesGroup(t *testing.T) {
	b, _, groupaddCalls := testBackend(t, false, "group: vmusers\n")
	b.lookupGroup = func(name string) error { return user.UnknownGroupError(name) }
	msg, err := b.install(context.Background())
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if got := readCalls(t, groupaddCalls); len(got) != 1 || got[0] != "--system vmusers" {
		t.Errorf("groupadd calls = %q, want [--system vmusers]", got)
	}
	if !strings.Contains(msg, `Created the system group "vmusers"`) || !strings.Contains(msg, "usermod -aG vmusers USER") {
		t.Errorf("message = %q, want the created group and how to add users", msg)
	}
}

func TestServiceInstallGroupLookupFails(t *testing.T) {
	b, _, groupaddCalls := testBackend(t, false, "")
	b.lookupGroup = func(string) error { return errors.New("nsswitch is broken") }
	_, err := b.install(context.Background())
	if err == nil || !strings.Contains(err.Error(), `look up group "vmgenie": nsswitch is broken`) {
		t.Errorf("install error = %v, want the lookup failure", err)
	}
	if got := readCalls(t, groupaddCalls); got != nil {
		t.Errorf("groupadd was called %q after a failed lookup", got)
	}
}

func TestServiceInstallNeedsRoot(t *testing.T) {
	b, systemctlCalls, _ := testBackend(t, false, "")
	b.euid = func() int { return 1000 }
	_, err := b.install(context.Background())
	if err == nil || !strings.Contains(err.Error(), `needs root: run "sudo vmgenie service install"`) {
		t.Errorf("install error = %v, want the root hint", err)
	}
	if got := readCalls(t, systemctlCalls); got != nil {
		t.Errorf("systemctl was called %q without root", got)
	}
}

func TestServiceInstallUserUnit(t *testing.T) {
	b, systemctlCalls, groupaddCalls := testBackend(t, true, "")
	b.euid = func() int { return 1000 }
	if _, err := b.install(context.Background()); err != nil {
		t.Fatalf("install --user: %v", err)
	}
	unit := readText(t, b.manager.UnitPath())
	if !strings.Contains(unit, "ExecStart=\"/opt/vm genie/bin/vmgenie\" \"serve\" \"--user\"\n") {
		t.Errorf("user unit lacks serve --user:\n%s", unit)
	}
	wantCalls := []string{"--user daemon-reload", "--user enable --now vmgenie.service"}
	if got := readCalls(t, systemctlCalls); strings.Join(got, "|") != strings.Join(wantCalls, "|") {
		t.Errorf("systemctl calls = %q, want %q", got, wantCalls)
	}
	if got := readCalls(t, groupaddCalls); got != nil {
		t.Errorf("groupadd was called %q for a user unit", got)
	}
}

func TestServiceInstallPassesConfigPath(t *testing.T) {
	b, _, _ := testBackend(t, false, "")
	b.a.configPath = "test.yml"
	if _, err := b.install(context.Background()); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("test.yml")
	if err != nil {
		t.Fatal(err)
	}
	unit := readText(t, b.manager.UnitPath())
	if !strings.Contains(unit, `"serve" "--config" "`+abs+`"`) {
		t.Errorf("unit does not pass the absolute --config %s:\n%s", abs, unit)
	}
}

func TestServiceInstallRejectsTempBinary(t *testing.T) {
	b, systemctlCalls, _ := testBackend(t, false, "")
	b.executable = func() (string, error) { return filepath.Join(os.TempDir(), "go-build1", "vmgenie"), nil }
	_, err := b.install(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is in the temporary directory") {
		t.Errorf("install error = %v, want the temporary directory rejected", err)
	}
	if got := readCalls(t, systemctlCalls); got != nil {
		t.Errorf("systemctl was called %q", got)
	}
}

func TestServiceWritableDirs(t *testing.T) {
	tests := []struct {
		cfg  string
		want []string
	}{
		{"data_dir: /srv/vm\n", []string{"/srv/vm", "/srv/vm/logs"}},
		{"data_dir: /srv/vm\nsocket: /run/vmgenie/vmgenie.sock\n", []string{"/srv/vm", "/srv/vm/logs"}},
		{"data_dir: /srv/vm\nsocket: /run/other/vm.sock\n", []string{"/srv/vm", "/srv/vm/logs", "/run/other"}},
	}
	for _, tt := range tests {
		b, _, _ := testBackend(t, false, tt.cfg)
		if got := b.writableDirs(); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q: writable dirs = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

// TestServiceCommandsUseSystemctl runs "vmgenie service ... --user" end to
// end with a fake systemctl first in PATH.
func TestServiceCommandsUseSystemctl(t *testing.T) {
	fakeDir, calls := fakeProgram(t, "systemctl", "active")
	t.Setenv("PATH", fakeDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	unitDir, err := systemd.UserUnitDir(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}

	for _, verb := range []string{"start", "stop"} {
		if code, _, errOut := run("service", verb, "--user"); code != 0 {
			t.Errorf("service %s: exit %d: %s", verb, code, errOut)
		}
	}
	code, out, errOut := run("service", "status", "--user", "-o", "json")
	if code != 0 {
		t.Fatalf("service status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"manager": "systemd --user"`, `"installed": false`, `"state": "active"`, `"startup": "not-found"`} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %s:\n%s", want, out)
		}
	}

	// The test binary lives in a temporary directory, which install rejects.
	code, _, errOut = run("service", "install", "--user")
	if code != 1 || !strings.Contains(errOut, "is in the temporary directory") {
		t.Errorf("service install --user: exit %d, stderr %q", code, errOut)
	}

	code, _, errOut = run("service", "uninstall", "--user")
	if code != 1 || !strings.Contains(errOut, "unit "+filepath.Join(unitDir, "vmgenie.service")+" is not installed") {
		t.Errorf("service uninstall --user: exit %d, stderr %q", code, errOut)
	}

	want := []string{"--user start vmgenie.service", "--user stop vmgenie.service", "--user is-active vmgenie.service"}
	if got := readCalls(t, calls); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("systemctl calls = %q, want %q", got, want)
	}
}
