package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/service"
)

// TestMain points the user-mode config and data directories at a
// temporary directory, so that commands run with --user in tests neither
// read the real user's config file nor write logs into the real home.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmgenie-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Unsetenv(config.EnvConfig)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeConfig writes a config file whose data directory is a new
// temporary directory, followed by extra YAML, and returns both paths.
func writeConfig(t *testing.T, extra string) (configPath, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	configPath = filepath.Join(dir, "config.yml")
	text := fmt.Sprintf("data_dir: %q\n%s", dataDir, extra)
	if err := os.WriteFile(configPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return configPath, dataDir
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestConfigDefaultsMatchService(t *testing.T) {
	if config.DefaultMaxRequestBytes != service.DefaultMaxRequestBytes {
		t.Errorf("config max_request_bytes default %d, service %d", config.DefaultMaxRequestBytes, service.DefaultMaxRequestBytes)
	}
	if config.DefaultRequestTimeout != service.DefaultRequestTimeout {
		t.Errorf("config request_timeout default %s, service %s", config.DefaultRequestTimeout, service.DefaultRequestTimeout)
	}
	if config.DefaultMaxConnections != service.DefaultMaxConnections {
		t.Errorf("config max_connections default %d, service %d", config.DefaultMaxConnections, service.DefaultMaxConnections)
	}
	if config.DefaultShutdownTimeout != service.DefaultShutdownTimeout {
		t.Errorf("config shutdown_timeout default %s, service %s", config.DefaultShutdownTimeout, service.DefaultShutdownTimeout)
	}
}

func TestServeUsesConfigFile(t *testing.T) {
	configPath, dataDir := writeConfig(t, "log:\n  level: debug\nlimits:\n  max_connections: 3\n")
	path, console := startServe(t, "--config", configPath)

	if code, _, errOut := run("status", "--socket", path); code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut)
	}

	logFile := filepath.Join(dataDir, "logs", "vmgenie.log")
	// The request line is written after the response, so wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(console.String(), "command=status") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fileText := readText(t, logFile)
	for name, text := range map[string]string{"log file": fileText, "stderr": console.String()} {
		for _, want := range []string{
			"msg=\"configuration loaded\" config_file=" + configPath,
			"max_connections=3",
			"msg=request",
			"command=status",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, text)
			}
		}
	}
	if runtime.GOOS != "windows" {
		info, err := os.Stat(logFile)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("log file mode = %o, want 600", info.Mode().Perm())
		}
	}
}

func TestServeFlagOverridesConfig(t *testing.T) {
	configPath, dataDir := writeConfig(t, "limits:\n  max_connections: 3\n")
	startServe(t, "--config", configPath, "--max-connections", "5")
	text := readText(t, filepath.Join(dataDir, "logs", "vmgenie.log"))
	if !strings.Contains(text, "max_connections=5") {
		t.Errorf("log lacks max_connections=5 from the flag:\n%s", text)
	}
}

func TestServeLogLevelFlagOverridesConfig(t *testing.T) {
	configPath, dataDir := writeConfig(t, "log:\n  level: debug\n")
	path, _ := startServe(t, "--config", configPath, "--log-level", "warn")
	if code, _, errOut := run("status", "--socket", path); code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut)
	}
	if text := readText(t, filepath.Join(dataDir, "logs", "vmgenie.log")); strings.Contains(text, "level=INFO") {
		t.Errorf("log has info lines although --log-level warn was given:\n%s", text)
	}
}

func TestServeRejectsInvalidConfig(t *testing.T) {
	configPath, _ := writeConfig(t, "driver: vmware\nlimits:\n  max_conections: 3\n")
	code, _, errOut := run("serve", "--user", "--config", configPath, "--socket", filepath.Join(t.TempDir(), "s.sock"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"invalid config file " + configPath + ": 2 problems:",
		`invalid driver "vmware": use auto, qemu, hyperv or none`,
		`unknown key "limits.max_conections": did you mean "limits.max_connections"?`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestServeRejectsMissingConfigFlag(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yml")
	code, _, errOut := run("serve", "--user", "--config", missing, "--socket", filepath.Join(t.TempDir(), "s.sock"))
	if code != 1 || !strings.Contains(errOut, "config file "+missing+" not found") {
		t.Errorf("exit %d, stderr %q: want config file not found", code, errOut)
	}
}

func TestApplyConfigPrecedence(t *testing.T) {
	cfg := &config.Config{
		Socket: "/run/from-config.sock",
		Group:  "kvm",
		Limits: config.Limits{MaxRequestBytes: 4096, RequestTimeout: 3 * time.Second, MaxConnections: 7, ShutdownTimeout: 9 * time.Second},
	}
	tests := []struct {
		name       string
		args       []string
		env        string
		wantSocket string
		wantGroup  string
		wantConns  int
	}{
		{"config fills unset flags", nil, "", "/run/from-config.sock", "kvm", 7},
		{"flags win", []string{"--socket", "/run/flag.sock", "--group", "wheel", "--max-connections", "2"}, "", "/run/flag.sock", "wheel", 2},
		{"environment wins over config", nil, "/run/env.sock", "", "kvm", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VMGENIE_SOCKET", tt.env)
			var flags serveFlags
			cmd := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { return nil }}
			flags.register(cmd)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			applyConfig(cmd.Flags(), &flags, cfg)
			if flags.socket != tt.wantSocket {
				t.Errorf("socket = %q, want %q", flags.socket, tt.wantSocket)
			}
			if flags.group != tt.wantGroup {
				t.Errorf("group = %q, want %q", flags.group, tt.wantGroup)
			}
			if flags.maxConnections != tt.wantConns {
				t.Errorf("max connections = %d, want %d", flags.maxConnections, tt.wantConns)
			}
			if flags.maxRequestBytes != 4096 || flags.requestTimeout != 3*time.Second || flags.shutdownTimeout != 9*time.Second {
				t.Errorf("limits = %d, %s, %s; want the config's 4096, 3s, 9s", flags.maxRequestBytes, flags.requestTimeout, flags.shutdownTimeout)
			}
		})
	}
}

func TestLoadConfigKeepsItForHooks(t *testing.T) {
	configPath, dataDir := writeConfig(t, "")
	a := &app{configPath: configPath}
	if _, err := a.loadConfig(true); err != nil {
		t.Fatal(err)
	}
	if a.config == nil || a.config.DataDir != dataDir {
		t.Errorf("a.config = %+v, want the loaded config with data_dir %s", a.config, dataDir)
	}
}

// runContext runs the CLI until ctx ends and returns the error of Execute.
func runContext(ctx context.Context, stdout, stderr *lockedBuffer, args ...string) error {
	a := &app{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr}
	root := newRootCommand(a)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
