package systemd

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestQuoteWord(t *testing.T) {
	tests := []struct {
		in         string
		expandsEnv bool
		want       string
	}{
		{"/usr/local/bin/vmgenie", true, `"/usr/local/bin/vmgenie"`},
		{"/opt/vm genie/bin/vmgenie", true, `"/opt/vm genie/bin/vmgenie"`},
		{`/opt/a"b`, true, `"/opt/a\"b"`},
		{`/opt/a\b`, true, `"/opt/a\\b"`},
		{"/opt/100%/vmgenie", true, `"/opt/100%%/vmgenie"`},
		{"/opt/$HOME/vmgenie", true, `"/opt/$$HOME/vmgenie"`},
		{"/opt/$HOME/vmgenie", false, `"/opt/$HOME/vmgenie"`},
		{"/opt/ünïcode", true, `"/opt/ünïcode"`},
		{"", true, `""`},
	}
	for _, tt := range tests {
		got, err := quoteWord(tt.in, tt.expandsEnv)
		if err != nil {
			t.Errorf("quoteWord(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("quoteWord(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"/opt/a\nb", "/opt/a\tb", "/opt/\x00"} {
		if _, err := quoteWord(bad, true); err == nil {
			t.Errorf("quoteWord(%q) succeeded, want an error for a control character", bad)
		}
	}
}

func systemOptions(binary string) UnitOptions {
	return UnitOptions{
		Binary:          binary,
		WritableDirs:    []string{"/var/lib/vmgenie", "/var/lib/vmgenie/logs"},
		ShutdownTimeout: 30 * time.Second,
	}
}

// settingLines returns the "Key=value" lines of a unit, without comments.
func settingLines(unit string) map[string][]string {
	settings := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		settings[key] = append(settings[key], value)
	}
	return settings
}

func TestRenderSystemUnit(t *testing.T) {
	opts := systemOptions("/usr/local/bin/vmgenie")
	opts.Args = []string{"--config", "/etc/vmgenie/config.yml"}
	unit, err := RenderUnit(opts)
	if err != nil {
		t.Fatal(err)
	}
	settings := settingLines(unit)
	want := map[string]string{
		"ExecStart":          `"/usr/local/bin/vmgenie" "serve" "--config" "/etc/vmgenie/config.yml"`,
		"Type":               "exec",
		"Restart":            "on-failure",
		"TimeoutStopSec":     "45",
		"RuntimeDirectory":   "vmgenie",
		"ReadWritePaths":     `"-/var/lib/vmgenie"`,
		"ProtectSystem":      "strict",
		"NoNewPrivileges":    "yes",
		"DevicePolicy":       "closed",
		"DeviceAllow":        "/dev/kvm rw",
		"RestrictNamespaces": "yes",
		"WantedBy":           "multi-user.target",
		"KillMode":           "process",
	}
	for key, value := range want {
		if got := settings[key]; len(got) != 1 || got[0] != value {
			t.Errorf("%s = %q, want [%s]", key, got, value)
		}
	}
	// QEMU's TCG accelerator writes and then runs code, so this must stay off.
	if _, set := settings["MemoryDenyWriteExecute"]; set {
		t.Error("MemoryDenyWriteExecute is set, which breaks QEMU's TCG accelerator")
	}
	if _, set := settings["PrivateDevices"]; set {
		t.Error("PrivateDevices is set, which hides /dev/kvm from QEMU")
	}
	if !strings.Contains(unit, "[Unit]\n") || !strings.Contains(unit, "[Service]\n") || !strings.Contains(unit, "[Install]\n") {
		t.Errorf("unit lacks a section:\n%s", unit)
	}
}

func TestRenderUserUnit(t *testing.T) {
	unit, err := RenderUnit(UnitOptions{Binary: "/home/ann/bin/vmgenie", User: true, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	settings := settingLines(unit)
	if got := settings["ExecStart"]; len(got) != 1 || got[0] != `"/home/ann/bin/vmgenie" "serve" "--user"` {
		t.Errorf("ExecStart = %q, want serve --user", got)
	}
	if got := settings["WantedBy"]; len(got) != 1 || got[0] != "default.target" {
		t.Errorf("WantedBy = %q, want default.target", got)
	}
	if got := settings["KillMode"]; len(got) != 1 || got[0] != "process" {
		t.Errorf("KillMode = %q, want process so that VMs outlive the service", got)
	}
	if got := settings["TimeoutStopSec"]; len(got) != 1 || got[0] != "25" {
		t.Errorf("TimeoutStopSec = %q, want 25", got)
	}
	for _, systemOnly := range []string{"RuntimeDirectory", "ProtectSystem", "ReadWritePaths", "DevicePolicy"} {
		if _, set := settings[systemOnly]; set {
			t.Errorf("user unit sets %s, which user managers cannot apply", systemOnly)
		}
	}
	if !strings.Contains(unit, `"vmgenie service uninstall --user"`) {
		t.Errorf("user unit's header does not name the uninstall command:\n%s", unit)
	}
}

func TestRenderUnitQuotesPaths(t *testing.T) {
	opts := systemOptions("/opt/vm genie/$bin/vmgenie")
	opts.Args = []string{"--config", `/etc/vm "genie"/100%/$x.yml`}
	opts.WritableDirs = []string{"/srv/vm data", "/var/log/vm $genie", "/srv/vm data/logs"}
	unit, err := RenderUnit(opts)
	if err != nil {
		t.Fatal(err)
	}
	settings := settingLines(unit)
	wantExec := `"/opt/vm genie/$bin/vmgenie" "serve" "--config" "/etc/vm \"genie\"/100%%/$$x.yml"`
	if got := settings["ExecStart"]; len(got) != 1 || got[0] != wantExec {
		t.Errorf("ExecStart = %q, want [%s]", got, wantExec)
	}
	wantPaths := `"-/srv/vm data" "-/var/log/vm $genie"`
	if got := settings["ReadWritePaths"]; len(got) != 1 || got[0] != wantPaths {
		t.Errorf("ReadWritePaths = %q, want [%s]", got, wantPaths)
	}
}

func TestRenderUnitRejectsBadInput(t *testing.T) {
	tests := map[string]UnitOptions{
		"relative binary":      {Binary: "bin/vmgenie", WritableDirs: []string{"/var/lib/vmgenie"}},
		"newline in binary":    {Binary: "/opt/vm\ngenie", WritableDirs: []string{"/var/lib/vmgenie"}},
		"newline in argument":  {Binary: "/opt/vmgenie", Args: []string{"--config", "/a\n[Service]"}, WritableDirs: []string{"/var/lib/vmgenie"}},
		"relative data dir":    {Binary: "/opt/vmgenie", WritableDirs: []string{"data"}},
		"no writable dir":      {Binary: "/opt/vmgenie"},
		"newline in data dir":  {Binary: "/opt/vmgenie", WritableDirs: []string{"/srv/a\nExecStartPre=/bin/sh"}},
		"relative log dir":     {Binary: "/opt/vmgenie", WritableDirs: []string{"/srv", "logs"}},
		"control char in user": {Binary: "/opt/\x1bvmgenie", User: true},
		"quote in binary":      {Binary: `/opt/vm"genie/vmgenie`, WritableDirs: []string{"/var/lib/vmgenie"}},
		"apostrophe in binary": {Binary: "/opt/vm'genie/vmgenie", WritableDirs: []string{"/var/lib/vmgenie"}},
		"backslash in binary":  {Binary: `/opt/vm\genie/vmgenie`, WritableDirs: []string{"/var/lib/vmgenie"}},
	}
	for name, opts := range tests {
		if unit, err := RenderUnit(opts); err == nil {
			t.Errorf("%s: RenderUnit succeeded, want an error:\n%s", name, unit)
		}
	}
}

func TestRenderUnitSkipsNestedLogDir(t *testing.T) {
	unit, err := RenderUnit(systemOptions("/usr/bin/vmgenie"))
	if err != nil {
		t.Fatal(err)
	}
	if got := settingLines(unit)["ReadWritePaths"]; len(got) != 1 || got[0] != `"-/var/lib/vmgenie"` {
		t.Errorf("ReadWritePaths = %q, want only the data directory, which contains the log directory", got)
	}
}

func TestUserUnitDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": "/home/ann"}, "/home/ann/.config/systemd/user"},
		{map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "/cfg"}, "/cfg/systemd/user"},
		{map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "rel"}, "/home/ann/.config/systemd/user"},
	}
	for _, tt := range tests {
		got, err := UserUnitDir(env(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("UserUnitDir(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
	if _, err := UserUnitDir(env(nil)); err == nil {
		t.Error("UserUnitDir without HOME succeeded, want an error")
	}
}

// requireTool returns the path of tool. It is skipped where the tool is
// missing, except in CI, where scripts/test.sh installs debianPackage.
func requireTool(t *testing.T, tool, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must install the Debian package %s (scripts/test.sh does)", tool, debianPackage)
	}
	t.Skipf("%s is not installed (Debian package %s); skipping", tool, debianPackage)
	return ""
}

// TestUnitPassesSystemdAnalyze checks the rendered units with
// "systemd-analyze verify", which parses them as systemd would and checks
// that ExecStart names an executable. It needs no running systemd.
func TestUnitPassesSystemdAnalyze(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd runs only on Linux")
	}
	analyze := requireTool(t, "systemd-analyze", "systemd")

	// The binary lives in a directory with a space, a dollar and a percent
	// sign, and the config path has quotes and a backslash too, so that
	// systemd itself checks the quoting.
	binDir := filepath.Join(t.TempDir(), `vm genie $bin 100%`)
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(binDir, "vmgenie")
	if err := os.WriteFile(binary, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, user := range []bool{false, true} {
		opts := systemOptions(binary)
		opts.User = user
		opts.WritableDirs = []string{"/var/lib/vm genie"}
		opts.Args = []string{"--config", `/etc/vm "genie"/a\b/100%/$x.yml`}
		unit, err := RenderUnit(opts)
		if err != nil {
			t.Fatal(err)
		}
		unitDir := t.TempDir()
		unitPath := filepath.Join(unitDir, UnitName)
		if err := os.WriteFile(unitPath, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"verify", "--man=no"}
		if user {
			args = append(args, "--user")
		}
		cmd := exec.Command(analyze, append(args, unitPath)...)
		// systemd-analyze --user needs a runtime directory to exist.
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir(), "SYSTEMD_LOG_COLOR=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("user=%v: systemd-analyze verify failed: %v\n%s\nunit:\n%s", user, err, out, unit)
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, UnitName) {
				t.Errorf("user=%v: systemd-analyze reported: %s\nunit:\n%s", user, line, unit)
			}
		}
	}
}

// fakeSystemctl writes a systemctl script that records its arguments, one
// call a line, prints stdout for query verbs, and exits with code.
func fakeSystemctl(t *testing.T, answers map[string]string, failVerb string) (program, logPath string) {
	t.Helper()
	dir := t.TempDir()
	logPath = filepath.Join(dir, "calls.log")
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	script.WriteString(`printf '%s\n' "$*" >> '` + logPath + "'\n")
	script.WriteString(`verb="$1"; [ "$verb" = "--user" ] && verb="$2"` + "\n")
	for verb, answer := range answers {
		script.WriteString(`if [ "$verb" = "` + verb + `" ]; then echo '` + answer + `'; [ '` + answer + `' = active ] || [ '` + answer + `' = enabled ] || exit 3; exit 0; fi` + "\n")
	}
	if failVerb != "" {
		script.WriteString(`if [ "$verb" = "` + failVerb + `" ]; then echo 'Failed to ` + failVerb + `: Access denied' >&2; exit 1; fi` + "\n")
	}
	script.WriteString("exit 0\n")
	program = filepath.Join(dir, "systemctl")
	if err := os.WriteFile(program, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return program, logPath
}

func calls(t *testing.T, logPath string) []string {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestManagerCommands(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake systemctl is a shell script")
	}
	for _, user := range []bool{false, true} {
		prefix := ""
		if user {
			prefix = "--user "
		}
		program, logPath := fakeSystemctl(t, nil, "")
		m := &Manager{User: user, UnitDir: filepath.Join(t.TempDir(), "units"), Systemctl: program}
		ctx := context.Background()

		if err := m.Install(ctx, "[Unit]\n"); err != nil {
			t.Fatalf("Install: %v", err)
		}
		data, err := os.ReadFile(m.UnitPath())
		if err != nil || string(data) != "[Unit]\n" {
			t.Errorf("unit file = %q, %v; want the text given to Install", data, err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := m.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := m.Uninstall(ctx); err != nil {
			t.Fatalf("Uninstall: %v", err)
		}
		if _, err := os.Stat(m.UnitPath()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("unit file still exists after Uninstall: %v", err)
		}

		want := []string{
			prefix + "daemon-reload",
			prefix + "enable --now vmgenie.service",
			prefix + "start vmgenie.service",
			prefix + "stop vmgenie.service",
			prefix + "disable --now vmgenie.service",
			prefix + "daemon-reload",
		}
		if got := calls(t, logPath); !equalStrings(got, want) {
			t.Errorf("user=%v: systemctl calls =\n%s\nwant\n%s", user, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestManagerStatus(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake systemctl is a shell script")
	}
	tests := []struct {
		name      string
		answers   map[string]string
		installed bool
		want      Status
	}{
		{"running", map[string]string{"is-enabled": "enabled", "is-active": "active"}, true,
			Status{Unit: UnitName, Enabled: "enabled", Active: "active"}},
		{"stopped", map[string]string{"is-enabled": "enabled", "is-active": "inactive"}, true,
			Status{Unit: UnitName, Enabled: "enabled", Active: "inactive"}},
		{"failed", map[string]string{"is-enabled": "disabled", "is-active": "failed"}, true,
			Status{Unit: UnitName, Enabled: "disabled", Active: "failed"}},
		{"not installed", map[string]string{"is-active": "inactive"}, false,
			Status{Unit: UnitName, Enabled: "not-found", Active: "inactive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			program, logPath := fakeSystemctl(t, tt.answers, "")
			m := &Manager{UnitDir: t.TempDir(), Systemctl: program}
			if tt.installed {
				os.WriteFile(m.UnitPath(), []byte("[Unit]\n"), 0o644)
				tt.want.UnitFile = m.UnitPath()
			}
			got, err := m.Status(context.Background())
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if got != tt.want {
				t.Errorf("Status = %+v, want %+v", got, tt.want)
			}
			wantCalls := []string{"is-enabled vmgenie.service", "is-active vmgenie.service"}
			if !tt.installed {
				wantCalls = wantCalls[1:]
			}
			if got := calls(t, logPath); !equalStrings(got, wantCalls) {
				t.Errorf("systemctl calls = %q, want %q", got, wantCalls)
			}
		})
	}
}

func TestManagerReportsSystemctlErrors(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake systemctl is a shell script")
	}
	program, logPath := fakeSystemctl(t, nil, "enable")
	m := &Manager{UnitDir: t.TempDir(), Systemctl: program}
	err := m.Install(context.Background(), "[Unit]\n")
	if err == nil || !strings.Contains(err.Error(), "enable --now vmgenie.service failed: Failed to enable: Access denied") {
		t.Errorf("Install error = %v, want systemctl's message", err)
	}
	if got := calls(t, logPath); len(got) != 2 {
		t.Errorf("systemctl calls = %q, want daemon-reload and enable only", got)
	}
}

func TestManagerMissingSystemctl(t *testing.T) {
	m := &Manager{UnitDir: t.TempDir(), Systemctl: "vmgenie-no-such-systemctl"}
	err := m.Start(context.Background())
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), `start the service with "vmgenie serve" instead`) {
		t.Errorf("Start error = %v, want a not-found error that names vmgenie serve", err)
	}
}

func TestManagerStatusWithoutSystemd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake systemctl is a shell script")
	}
	dir := t.TempDir()
	program := filepath.Join(dir, "systemctl")
	script := "#!/bin/sh\necho 'System has not been booted with systemd as init system (PID 1).' >&2\nexit 1\n"
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &Manager{UnitDir: dir, Systemctl: program}
	_, err := m.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "System has not been booted with systemd") {
		t.Errorf("Status error = %v, want systemctl's message", err)
	}
}

func TestUninstallWithoutUnit(t *testing.T) {
	program, logPath := fakeSystemctl(t, nil, "")
	m := &Manager{UnitDir: t.TempDir(), Systemctl: program}
	err := m.Uninstall(context.Background())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Uninstall error = %v, want fs.ErrNotExist", err)
	}
	if got := calls(t, logPath); len(got) != 0 {
		t.Errorf("systemctl was called %q for a unit that is not installed", got)
	}
}
