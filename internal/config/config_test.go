package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envMap returns a getenv function that reads only m.
func envMap(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

func TestDefaultsPerPlatform(t *testing.T) {
	tests := []struct {
		name         string
		goos         string
		userMode     bool
		env          map[string]string
		wantFile     string
		wantDataDir  string
		wantTemplate string
		wantLogFile  string
		wantGroup    string
	}{
		{
			name:         "linux system",
			goos:         "linux",
			env:          map[string]string{"HOME": "/root", "XDG_CONFIG_HOME": "/ignored"},
			wantFile:     "/etc/vmgenie/config.yml",
			wantDataDir:  "/var/lib/vmgenie",
			wantTemplate: "/var/lib/vmgenie/templates",
			wantLogFile:  "/var/lib/vmgenie/logs/vmgenie.log",
			wantGroup:    "vmgenie",
		},
		{
			name:         "darwin system",
			goos:         "darwin",
			env:          map[string]string{},
			wantFile:     "/etc/vmgenie/config.yml",
			wantDataDir:  "/var/lib/vmgenie",
			wantTemplate: "/var/lib/vmgenie/templates",
			wantLogFile:  "/var/lib/vmgenie/logs/vmgenie.log",
			wantGroup:    "vmgenie",
		},
		{
			name:         "linux user with XDG",
			goos:         "linux",
			userMode:     true,
			env:          map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "/cfg", "XDG_DATA_HOME": "/data"},
			wantFile:     "/cfg/vmgenie/config.yml",
			wantDataDir:  "/data/vmgenie",
			wantTemplate: "/data/vmgenie/templates",
			wantLogFile:  "/data/vmgenie/logs/vmgenie.log",
		},
		{
			name:         "linux user without XDG",
			goos:         "linux",
			userMode:     true,
			env:          map[string]string{"HOME": "/home/ann"},
			wantFile:     "/home/ann/.config/vmgenie/config.yml",
			wantDataDir:  "/home/ann/.local/share/vmgenie",
			wantTemplate: "/home/ann/.local/share/vmgenie/templates",
			wantLogFile:  "/home/ann/.local/share/vmgenie/logs/vmgenie.log",
		},
		{
			name:         "linux user ignores relative XDG",
			goos:         "linux",
			userMode:     true,
			env:          map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "cfg", "XDG_DATA_HOME": "data"},
			wantFile:     "/home/ann/.config/vmgenie/config.yml",
			wantDataDir:  "/home/ann/.local/share/vmgenie",
			wantTemplate: "/home/ann/.local/share/vmgenie/templates",
			wantLogFile:  "/home/ann/.local/share/vmgenie/logs/vmgenie.log",
		},
		{
			name:         "windows system",
			goos:         "windows",
			env:          map[string]string{"ProgramData": `D:\PD`},
			wantFile:     `D:\PD\vmgenie\config.yml`,
			wantDataDir:  `D:\PD\vmgenie`,
			wantTemplate: `D:\PD\vmgenie\templates`,
			wantLogFile:  `D:\PD\vmgenie\logs\vmgenie.log`,
		},
		{
			name:         "windows system without ProgramData",
			goos:         "windows",
			env:          map[string]string{},
			wantFile:     `C:\ProgramData\vmgenie\config.yml`,
			wantDataDir:  `C:\ProgramData\vmgenie`,
			wantTemplate: `C:\ProgramData\vmgenie\templates`,
			wantLogFile:  `C:\ProgramData\vmgenie\logs\vmgenie.log`,
		},
		{
			name:         "windows user",
			goos:         "windows",
			userMode:     true,
			env:          map[string]string{"APPDATA": `C:\Users\ann\AppData\Roaming`, "LOCALAPPDATA": `C:\Users\ann\AppData\Local\`},
			wantFile:     `C:\Users\ann\AppData\Roaming\vmgenie\config.yml`,
			wantDataDir:  `C:\Users\ann\AppData\Local\vmgenie`,
			wantTemplate: `C:\Users\ann\AppData\Local\vmgenie\templates`,
			wantLogFile:  `C:\Users\ann\AppData\Local\vmgenie\logs\vmgenie.log`,
		},
		{
			name:         "windows user from USERPROFILE",
			goos:         "windows",
			userMode:     true,
			env:          map[string]string{"USERPROFILE": `C:\Users\ann`},
			wantFile:     `C:\Users\ann\AppData\Roaming\vmgenie\config.yml`,
			wantDataDir:  `C:\Users\ann\AppData\Local\vmgenie`,
			wantTemplate: `C:\Users\ann\AppData\Local\vmgenie\templates`,
			wantLogFile:  `C:\Users\ann\AppData\Local\vmgenie\logs\vmgenie.log`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := platform{goos: tt.goos, userMode: tt.userMode, getenv: envMap(tt.env)}
			file, err := p.configPath()
			if err != nil {
				t.Fatalf("configPath: %v", err)
			}
			if file != tt.wantFile {
				t.Errorf("config path = %q, want %q", file, tt.wantFile)
			}
			cfg, err := p.defaults()
			if err != nil {
				t.Fatalf("defaults: %v", err)
			}
			if cfg.DataDir != tt.wantDataDir {
				t.Errorf("DataDir = %q, want %q", cfg.DataDir, tt.wantDataDir)
			}
			if cfg.TemplateDir != tt.wantTemplate {
				t.Errorf("TemplateDir = %q, want %q", cfg.TemplateDir, tt.wantTemplate)
			}
			if cfg.Log.File != tt.wantLogFile {
				t.Errorf("Log.File = %q, want %q", cfg.Log.File, tt.wantLogFile)
			}
			if cfg.Group != tt.wantGroup {
				t.Errorf("Group = %q, want %q", cfg.Group, tt.wantGroup)
			}
			if cfg.UserMode != tt.userMode {
				t.Errorf("UserMode = %v, want %v", cfg.UserMode, tt.userMode)
			}
			if problems := validate(cfg, p, nil); len(problems) > 0 {
				t.Errorf("defaults do not validate: %v", problems)
			}
		})
	}
}

func TestDefaultsSharedValues(t *testing.T) {
	cfg, err := platform{goos: "linux", getenv: envMap(nil)}.defaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxRequestBytes: 1 << 20, RequestTimeout: 10 * time.Second, MaxConnections: 64, ShutdownTimeout: 30 * time.Second}
	if cfg.Limits != want {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, want)
	}
	if cfg.Log.Level != "info" || cfg.Log.MaxSizeMB != 10 || cfg.Log.MaxFiles != 5 {
		t.Errorf("Log = %+v, want level info, 10 MiB, 5 files", cfg.Log)
	}
	if cfg.Driver != "auto" || cfg.QEMU.Accel != "auto" {
		t.Errorf("Driver = %q, QEMU.Accel = %q, want auto and auto", cfg.Driver, cfg.QEMU.Accel)
	}
	if cfg.Provision != (Provision{SSHTimeout: 5 * time.Minute, CloudInitTimeout: 15 * time.Minute}) {
		t.Errorf("Provision = %+v", cfg.Provision)
	}
	if cfg.Socket != "" {
		t.Errorf("Socket = %q, want empty (the transport's default)", cfg.Socket)
	}
}

func TestUserModeWithoutHome(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		p := platform{goos: goos, userMode: true, getenv: envMap(nil)}
		if _, err := p.configPath(); err == nil {
			t.Errorf("%s: configPath without HOME succeeded, want an error", goos)
		}
		if _, err := p.defaults(); err == nil {
			t.Errorf("%s: defaults without HOME succeeded, want an error", goos)
		}
	}
}

// everyKeyYAML sets every key to a value other than its default.
const everyKeyYAML = `# every key
data_dir: /srv/vmgenie
template_dir: /srv/templates
socket: /run/custom/vmgenie.sock
group: kvm
limits:
  max_request_bytes: 2097152
  request_timeout: 3s
  max_connections: 8
  shutdown_timeout: 1m30s
log:
  level: debug
  file: /var/log/vmgenie/service.log
  max_size_mb: 50
  max_files: 0
driver: qemu
provision:
  ssh_timeout: 2m
  cloud_init_timeout: 20m
qemu:
  accel: tcg
  restrict_network: true
`

func TestParseEveryKey(t *testing.T) {
	p := platform{goos: "linux", getenv: envMap(nil)}
	cfg, err := parse([]byte(everyKeyYAML), "every.yml", p)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := &Config{
		DataDir:     "/srv/vmgenie",
		TemplateDir: "/srv/templates",
		Socket:      "/run/custom/vmgenie.sock",
		Group:       "kvm",
		Limits: Limits{
			MaxRequestBytes: 2 << 20,
			RequestTimeout:  3 * time.Second,
			MaxConnections:  8,
			ShutdownTimeout: 90 * time.Second,
		},
		Log:       Log{Level: "debug", File: "/var/log/vmgenie/service.log", MaxSizeMB: 50, MaxFiles: 0},
		Driver:    "qemu",
		Provision: Provision{SSHTimeout: 2 * time.Minute, CloudInitTimeout: 20 * time.Minute},
		QEMU:      QEMU{Accel: "tcg", RestrictNetwork: true},
		File:      "every.yml",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("parse(everyKeyYAML) =\n%+v\nwant\n%+v", cfg, want)
	}
}

// TestEveryKeyCovered fails when a key is added to Config without adding it
// to everyKeyYAML, so that TestParseEveryKey keeps covering every key.
func TestEveryKeyCovered(t *testing.T) {
	for _, key := range allKeys() {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(everyKeyYAML, leaf+":") {
			t.Errorf("everyKeyYAML does not set %s", key)
		}
	}
}

// allKeys returns every dotted leaf key of Config, sorted.
func allKeys() []string {
	d := &decoder{leafPaths: map[string][]string{}}
	d.indexKeys(reflect.TypeOf(Config{}), "")
	var keys []string
	for _, paths := range d.leafPaths {
		keys = append(keys, paths...)
	}
	sort.Strings(keys)
	return keys
}

func TestDerivedPathsFollowDataDir(t *testing.T) {
	p := platform{goos: "linux", getenv: envMap(nil)}
	cfg, err := parse([]byte("data_dir: /srv/vm\n"), "c.yml", p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemplateDir != "/srv/vm/templates" {
		t.Errorf("TemplateDir = %q, want /srv/vm/templates", cfg.TemplateDir)
	}
	if cfg.Log.File != "/srv/vm/logs/vmgenie.log" {
		t.Errorf("Log.File = %q, want /srv/vm/logs/vmgenie.log", cfg.Log.File)
	}
}

func TestParseKeepsDefaults(t *testing.T) {
	p := platform{goos: "linux", getenv: envMap(nil)}
	want, err := p.defaults()
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{
		"empty file":        "",
		"comments only":     "# nothing set\n",
		"empty document":    "---\n",
		"null values":       "data_dir:\nlimits:\nlog:\n  level: ~\n",
		"empty sections":    "limits: {}\nlog: {}\nprovision: {}\nqemu: {}\n",
		"explicit defaults": "limits:\n  max_request_bytes: 1048576\n  request_timeout: 10s\n",
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			cfg, err := parse([]byte(input), "c.yml", p)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want.File = "c.yml"
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("parse(%q) =\n%+v\nwant defaults\n%+v", input, cfg, want)
			}
		})
	}
}

func TestParseAcceptsYAMLForms(t *testing.T) {
	p := platform{goos: "linux", getenv: envMap(nil)}
	input := `
limits:
  max_connections: 0x10
  request_timeout: "250ms"
log: {level: warn, max_files: 3}
driver: 'auto'
`
	cfg, err := parse([]byte(input), "c.yml", p)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Limits.MaxConnections != 16 {
		t.Errorf("MaxConnections = %d, want 16 from 0x10", cfg.Limits.MaxConnections)
	}
	if cfg.Limits.RequestTimeout != 250*time.Millisecond {
		t.Errorf("RequestTimeout = %s, want 250ms", cfg.Limits.RequestTimeout)
	}
	if cfg.Log.Level != "warn" || cfg.Log.MaxFiles != 3 {
		t.Errorf("Log = %+v, want level warn and 3 files from a flow mapping", cfg.Log)
	}
}

func TestParseFollowsAliases(t *testing.T) {
	p := platform{goos: "linux", getenv: envMap(nil)}
	input := "provision:\n  ssh_timeout: &t 7m\n  cloud_init_timeout: *t\n"
	cfg, err := parse([]byte(input), "c.yml", p)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Provision.CloudInitTimeout != 7*time.Minute {
		t.Errorf("CloudInitTimeout = %s, want 7m through the alias", cfg.Provision.CloudInitTimeout)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		goos  string
		input string
		// want lists one problem per entry as "line:column: message part".
		want []string
	}{
		{"unknown key with suggestion", "linux", "data_dri: /x\n",
			[]string{`1:1: unknown key "data_dri": did you mean "data_dir"?`}},
		{"unknown key ignores case", "linux", "Driver: qemu\n",
			[]string{`1:1: unknown key "Driver": did you mean "driver"?`}},
		{"unknown nested key with suggestion", "linux", "limits:\n  max_conections: 3\n",
			[]string{`2:3: unknown key "limits.max_conections": did you mean "limits.max_connections"?`}},
		{"key in wrong section", "linux", "request_timeout: 5s\n",
			[]string{`1:1: unknown key "request_timeout": did you mean "limits.request_timeout"?`}},
		{"key in wrong nested section", "linux", "log:\n  accel: kvm\n",
			[]string{`2:3: unknown key "log.accel": did you mean "qemu.accel"?`}},
		{"unknown key lists valid keys", "linux", "qemu:\n  binary: /usr/bin/qemu\n",
			[]string{`2:3: unknown key "qemu.binary": valid keys here are accel`}},
		{"merge key", "linux", "limits:\n  <<: {max_connections: 3}\n",
			[]string{`2:3: merge keys (<<) are not supported`}},
		{"non-string key", "linux", "[a]: 1\n",
			[]string{`1:1: a key must be a string, found a list`}},
		{"duplicate key", "linux", "driver: qemu\ndriver: auto\n",
			[]string{`2:1: driver is set twice (first on line 1)`}},
		{"root is a list", "linux", "- data_dir\n",
			[]string{`1:1: the file must be a mapping of keys to values, found a list`}},
		{"root is a scalar", "linux", "hello\n",
			[]string{`1:1: the file must be a mapping of keys to values, found the string "hello"`}},
		{"section is a scalar", "linux", "limits: 5\n",
			[]string{`1:9: limits must be a mapping of keys to values, found the integer 5`}},
		{"string is a list", "linux", "data_dir: [a]\n",
			[]string{`1:11: data_dir must be a string, found a list`}},
		{"string is an integer", "linux", "group: 1000\n",
			[]string{`1:8: group must be a string, found the integer 1000: quote it, as in group: "1000"`}},
		{"string is a boolean", "linux", "driver: yes\n",
			[]string{`1:9: invalid driver "yes": use auto, qemu, hyperv or none`}},
		{"string is a real boolean", "linux", "driver: true\n",
			[]string{`1:9: driver must be a string, found the boolean true`}},
		{"integer is a string", "linux", "limits:\n  max_connections: lots\n",
			[]string{`2:20: limits.max_connections must be an integer, found the string "lots"`}},
		{"integer is quoted", "linux", "limits:\n  max_connections: \"8\"\n",
			[]string{`2:20: limits.max_connections must be an integer, found the string "8"`}},
		{"integer is a float", "linux", "log:\n  max_size_mb: 1.5\n",
			[]string{`2:16: log.max_size_mb must be an integer, found the number 1.5`}},
		{"integer overflows int64", "linux", "limits:\n  max_request_bytes: 99999999999999999999\n",
			[]string{`2:22: limits.max_request_bytes must be an integer, found the number 99999999999999999999`}},
		{"duration without unit", "linux", "limits:\n  request_timeout: 10\n",
			[]string{`2:20: limits.request_timeout must be a duration with a unit, such as "10s" or "5m", found the integer 10`}},
		{"duration invalid", "linux", "provision:\n  ssh_timeout: soon\n",
			[]string{`2:16: provision.ssh_timeout: invalid duration "soon"`}},
		{"duration is a mapping", "linux", "provision:\n  ssh_timeout: {a: 1}\n",
			[]string{`2:16: provision.ssh_timeout must be a duration such as "10s", found a mapping`}},
		{"relative data dir", "linux", "data_dir: var/vmgenie\n",
			[]string{`1:11: data_dir must be an absolute path, found "var/vmgenie": write the full path, such as /var/lib/vmgenie`}},
		{"tilde data dir", "linux", "data_dir: ~/vmgenie\n",
			[]string{`1:11: data_dir must be an absolute path, found "~/vmgenie" (~ is not expanded)`}},
		{"relative template dir", "linux", "template_dir: templates\n",
			[]string{`1:15: template_dir must be an absolute path, found "templates"`}},
		{"relative log file", "linux", "log:\n  file: vmgenie.log\n",
			[]string{`2:9: log.file must be an absolute path, found "vmgenie.log"`}},
		{"windows relative data dir", "windows", "data_dir: /srv/vmgenie\n",
			[]string{`1:11: data_dir must be an absolute path, found "/srv/vmgenie": write the full path, such as C:\ProgramData\vmgenie`}},
		{"relative socket", "linux", "socket: vmgenie.sock\n",
			[]string{`1:9: socket must be an absolute path, found "vmgenie.sock"`}},
		{"socket too long linux", "linux", "socket: /" + strings.Repeat("s", 107) + "\n",
			[]string{`1:9: socket path "/` + strings.Repeat("s", 107) + `" is 108 bytes, longer than the 107 bytes a Unix socket address holds on linux`}},
		{"socket too long darwin", "darwin", "socket: /" + strings.Repeat("s", 103) + "\n",
			[]string{`1:9: socket path "/` + strings.Repeat("s", 103) + `" is 104 bytes, longer than the 103 bytes a Unix socket address holds on darwin`}},
		{"windows socket not a pipe", "windows", "socket: C:\\vmgenie.sock\n",
			[]string{`1:9: invalid pipe name "C:\\vmgenie.sock": use \\.\pipe\ followed by a name`}},
		{"windows pipe with backslash", "windows", "socket: \\\\.\\pipe\\a\\b\n",
			[]string{`1:9: invalid pipe name "\\\\.\\pipe\\a\\b"`}},
		{"windows pipe without name", "windows", "socket: \\\\.\\pipe\\\n",
			[]string{`1:9: invalid pipe name "\\\\.\\pipe\\"`}},
		{"bad group", "linux", "group: \"vm genie\"\n",
			[]string{`1:8: invalid group "vm genie": use a Unix group name`}},
		{"empty group", "linux", "group: \"\"\n",
			[]string{`1:8: invalid group "": use a Unix group name`}},
		{"request bytes too small", "linux", "limits:\n  max_request_bytes: 100\n",
			[]string{`2:22: limits.max_request_bytes must be between 1024 and 67108864, found 100`}},
		{"request bytes too large", "linux", "limits:\n  max_request_bytes: 67108865\n",
			[]string{`2:22: limits.max_request_bytes must be between 1024 and 67108864, found 67108865`}},
		{"zero request timeout", "linux", "limits:\n  request_timeout: 0s\n",
			[]string{`2:20: limits.request_timeout must be a positive duration, such as "30s", found 0s`}},
		{"zero connections", "linux", "limits:\n  max_connections: 0\n",
			[]string{`2:20: limits.max_connections must be between 1 and 10000, found 0`}},
		{"too many connections", "linux", "limits:\n  max_connections: 10001\n",
			[]string{`2:20: limits.max_connections must be between 1 and 10000, found 10001`}},
		{"negative shutdown timeout", "linux", "limits:\n  shutdown_timeout: -1s\n",
			[]string{`2:21: limits.shutdown_timeout must be a positive duration, such as "30s", found -1s`}},
		{"zero shutdown timeout", "linux", "limits:\n  shutdown_timeout: 0s\n",
			[]string{`2:21: limits.shutdown_timeout must be a positive duration, such as "30s", found 0s`}},
		{"bad log level", "linux", "log:\n  level: verbose\n",
			[]string{`2:10: invalid log.level "verbose": use debug, info, warn or error`}},
		{"upper case log level", "linux", "log:\n  level: INFO\n",
			[]string{`2:10: invalid log.level "INFO": use debug, info, warn or error`}},
		{"zero log size", "linux", "log:\n  max_size_mb: 0\n",
			[]string{`2:16: log.max_size_mb must be between 1 and 1024, found 0`}},
		{"negative log files", "linux", "log:\n  max_files: -1\n",
			[]string{`2:14: log.max_files must be between 0 and 100, found -1`}},
		{"too many log files", "linux", "log:\n  max_files: 101\n",
			[]string{`2:14: log.max_files must be between 0 and 100, found 101`}},
		{"bad driver", "linux", "driver: vmware\n",
			[]string{`1:9: invalid driver "vmware": use auto, qemu, hyperv or none`}},
		{"hyperv off windows", "linux", "driver: hyperv\n",
			[]string{`1:9: driver hyperv runs only on Windows: use qemu or auto on linux`}},
		{"zero ssh timeout", "linux", "provision:\n  ssh_timeout: 0s\n",
			[]string{`2:16: provision.ssh_timeout must be a positive duration`}},
		{"negative cloud-init timeout", "linux", "provision:\n  cloud_init_timeout: -5m\n",
			[]string{`2:23: provision.cloud_init_timeout must be a positive duration`}},
		{"bad accel", "linux", "qemu:\n  accel: xen\n",
			[]string{`2:10: invalid qemu.accel "xen": use auto, kvm, hvf or tcg`}},
		{"syntax error", "linux", "limits:\n  max_connections: [\n",
			[]string{`2:0: invalid YAML: did not find expected node content`}},
		{"tab indentation", "linux", "limits:\n\tmax_connections: 3\n",
			[]string{`2:0: invalid YAML: found character that cannot start any token`}},
		{"two documents", "linux", "driver: qemu\n---\ndriver: auto\n",
			[]string{`2:0: the file contains more than one YAML document: keep only the first`}},
		{"error in second document", "linux", "driver: qemu\n---\n[\n",
			[]string{`3:0: invalid YAML: did not find expected node content`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := platform{goos: tt.goos, getenv: envMap(nil)}
			_, err := parse([]byte(tt.input), "bad.yml", p)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("parse(%q) error = %v, want *config.Error", tt.input, err)
			}
			if cfgErr.File != "bad.yml" {
				t.Errorf("Error.File = %q, want bad.yml", cfgErr.File)
			}
			checkProblems(t, cfgErr.Problems, tt.want)
		})
	}
}

// checkProblems compares problems with want, whose entries are
// "line:column: message prefix".
func checkProblems(t *testing.T, problems []Problem, want []string) {
	t.Helper()
	var got []string
	for _, p := range problems {
		got = append(got, formatProblem(p))
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d =\n  %s\nwant prefix\n  %s", i, got[i], want[i])
		}
	}
}

func formatProblem(p Problem) string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column) + ": " + p.Message
}

func TestParseReportsEveryProblem(t *testing.T) {
	input := `data_dri: /x
limits:
  max_connections: lots
  request_timeout: 10
  shutdown_timeout: -1s
log:
  level: verbose
  file: relative.log
driver: hyperv
group: 123
qemu: [kvm]
limits: {}
`
	p := platform{goos: "linux", getenv: envMap(nil)}
	_, err := parse([]byte(input), "many.yml", p)
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("parse error = %v, want *config.Error", err)
	}
	checkProblems(t, cfgErr.Problems, []string{
		`1:1: unknown key "data_dri"`,
		`3:20: limits.max_connections must be an integer`,
		`4:20: limits.request_timeout must be a duration`,
		`5:21: limits.shutdown_timeout must be a positive duration`,
		`7:10: invalid log.level "verbose"`,
		`8:9: log.file must be an absolute path`,
		`9:9: driver hyperv runs only on Windows`,
		`10:8: group must be a string`,
		`11:7: qemu must be a mapping`,
		`12:1: limits is set twice`,
	})
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid config file many.yml: 10 problems:\n  line 1, column 1: ") {
		t.Errorf("Error() starts with %q, want the file, the count and one problem a line", msg[:min(len(msg), 80)])
	}
	if n := strings.Count(msg, "\n  line "); n != 10 {
		t.Errorf("Error() has %d problem lines, want 10:\n%s", n, msg)
	}
}

func TestErrorSingleProblemOnOneLine(t *testing.T) {
	_, err := parse([]byte("driver: x\n"), "one.yml", platform{goos: "linux", getenv: envMap(nil)})
	want := `invalid config file one.yml: line 1, column 9: invalid driver "x": use auto, qemu, hyperv or none`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestWindowsAcceptsItsPaths(t *testing.T) {
	input := `data_dir: D:\vmgenie
template_dir: \\server\share\templates
socket: \\.\pipe\vmgenie-test
driver: hyperv
log:
  file: C:/logs/vmgenie.log
`
	p := platform{goos: "windows", getenv: envMap(nil)}
	cfg, err := parse([]byte(input), "w.yml", p)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Socket != `\\.\pipe\vmgenie-test` || cfg.Driver != "hyperv" {
		t.Errorf("Socket = %q, Driver = %q", cfg.Socket, cfg.Driver)
	}
	if cfg.Group != "" {
		t.Errorf("Group = %q, want empty on Windows", cfg.Group)
	}
}

func TestUserModeIgnoresGroup(t *testing.T) {
	p := platform{goos: "linux", userMode: true, getenv: envMap(map[string]string{"HOME": "/home/ann"})}
	if _, err := parse([]byte("group: \"not a group\"\n"), "u.yml", p); err != nil {
		t.Errorf("user mode rejected an unused group: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"data_dir", "template_dir", "socket", "group", "limits", "log", "driver"}
	tests := []struct{ key, want string }{
		{"data_dri", "data_dir"},
		{"datadir", "data_dir"},
		{"DATA_DIR", "data_dir"},
		{"templates_dir", "template_dir"},
		{"sockets", "socket"},
		{"lg", "log"},
		{"drivers", "driver"},
		{"hypervisor", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"log", "log", 0}, {"ab", "ba", 2},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the user-mode paths below are Unix paths")
	}
	dir := t.TempDir()
	cfgHome := filepath.Join(dir, "config")
	defaultFile := filepath.Join(cfgHome, "vmgenie", "config.yml")
	other := filepath.Join(dir, "other.yml")
	writeFile(t, other, "driver: qemu\n")
	env := map[string]string{"HOME": dir, "XDG_CONFIG_HOME": cfgHome, "XDG_DATA_HOME": filepath.Join(dir, "data")}

	t.Run("missing default file means defaults", func(t *testing.T) {
		cfg, err := Load(LoadOptions{UserMode: true, Getenv: envMap(env)})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != "" {
			t.Errorf("File = %q, want empty when no file exists", cfg.File)
		}
		if cfg.DataDir != filepath.Join(dir, "data", "vmgenie") {
			t.Errorf("DataDir = %q", cfg.DataDir)
		}
	})

	t.Run("default file is read", func(t *testing.T) {
		writeFile(t, defaultFile, "qemu:\n  accel: kvm\n")
		defer os.Remove(defaultFile)
		cfg, err := Load(LoadOptions{UserMode: true, Getenv: envMap(env)})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != defaultFile || cfg.QEMU.Accel != "kvm" {
			t.Errorf("File = %q, Accel = %q, want %s and kvm", cfg.File, cfg.QEMU.Accel, defaultFile)
		}
	})

	t.Run("environment variable names the file", func(t *testing.T) {
		env := copyEnv(env, EnvConfig, other)
		cfg, err := Load(LoadOptions{UserMode: true, Getenv: envMap(env)})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != other || cfg.Driver != "qemu" {
			t.Errorf("File = %q, Driver = %q, want %s and qemu", cfg.File, cfg.Driver, other)
		}
	})

	t.Run("flag wins over environment", func(t *testing.T) {
		flagFile := filepath.Join(dir, "flag.yml")
		writeFile(t, flagFile, "qemu:\n  accel: tcg\n")
		env := copyEnv(env, EnvConfig, other)
		cfg, err := Load(LoadOptions{Path: flagFile, UserMode: true, Getenv: envMap(env)})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.File != flagFile || cfg.QEMU.Accel != "tcg" || cfg.Driver != "auto" {
			t.Errorf("File = %q, Accel = %q, Driver = %q: want only the flag's file", cfg.File, cfg.QEMU.Accel, cfg.Driver)
		}
	})

	t.Run("missing flag file is an error", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.yml")
		_, err := Load(LoadOptions{Path: missing, UserMode: true, Getenv: envMap(env)})
		if err == nil || !strings.Contains(err.Error(), "config file "+missing+" not found") {
			t.Errorf("error = %v, want config file not found", err)
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v does not wrap os.ErrNotExist", err)
		}
	})

	t.Run("missing environment file is an error", func(t *testing.T) {
		env := copyEnv(env, EnvConfig, filepath.Join(dir, "nope.yml"))
		if _, err := Load(LoadOptions{UserMode: true, Getenv: envMap(env)}); err == nil {
			t.Error("Load succeeded, want an error for a missing $VMGENIE_CONFIG file")
		}
	})

	t.Run("directory is a read error", func(t *testing.T) {
		_, err := Load(LoadOptions{Path: dir, Getenv: envMap(env)})
		if err == nil || !strings.Contains(err.Error(), "read config file "+dir) {
			t.Errorf("error = %v, want read config file", err)
		}
	})

	t.Run("invalid file names its problems", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yml")
		writeFile(t, bad, "driver: vmware\nlog:\n  levl: debug\n")
		_, err := Load(LoadOptions{Path: bad, Getenv: envMap(env)})
		var cfgErr *Error
		if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != 2 || cfgErr.File != bad {
			t.Errorf("error = %v, want *config.Error with 2 problems in %s", err, bad)
		}
	})

	t.Run("user mode without home is an error", func(t *testing.T) {
		if _, err := Load(LoadOptions{UserMode: true, Getenv: envMap(nil)}); err == nil {
			t.Error("Load succeeded without HOME, want an error")
		}
	})
}

func TestLoadSystemDefaultPath(t *testing.T) {
	path, err := DefaultPath(false)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && path != "/etc/vmgenie/config.yml" {
		t.Errorf("DefaultPath(false) = %q, want /etc/vmgenie/config.yml", path)
	}
}

func copyEnv(env map[string]string, key, value string) map[string]string {
	out := map[string]string{key: value}
	for k, v := range env {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(everyKeyYAML)
	f.Add("data_dri: /x\nlimits: [1]\n")
	f.Add("a: &a [*a]\n")
	f.Add("limits: {max_connections: 0x10}\n")
	f.Add("---\n---\n")
	p := platform{goos: "linux", getenv: envMap(nil)}
	f.Fuzz(func(t *testing.T, input string) {
		cfg, err := parse([]byte(input), "fuzz.yml", p)
		if err != nil {
			var cfgErr *Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) == 0 {
				t.Fatalf("error %v is not a *config.Error with problems", err)
			}
			return
		}
		if problems := validate(cfg, p, nil); len(problems) > 0 {
			t.Fatalf("parse accepted a config that does not validate: %v", problems)
		}
	})
}

func TestParseRestrictNetwork(t *testing.T) {
	cfg, err := Parse([]byte("qemu:\n  restrict_network: true\n"), "config.yml", true)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.QEMU.RestrictNetwork {
		t.Error("qemu.restrict_network = false, want true")
	}
	_, err = Parse([]byte("qemu:\n  restrict_network: \"yes\"\n"), "config.yml", true)
	if err == nil || !strings.Contains(err.Error(), "qemu.restrict_network must be true or false") {
		t.Errorf("err = %v, want a type error naming qemu.restrict_network", err)
	}
}
