package config

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Default values shared by every platform and mode.
const (
	DefaultMaxRequestBytes  = 1 << 20 // 1 MiB
	DefaultRequestTimeout   = 10 * time.Second
	DefaultMaxConnections   = 64
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultLogLevel         = "info"
	DefaultLogMaxSizeMB     = 10
	DefaultLogMaxFiles      = 5
	DefaultDriver           = "auto"
	DefaultSSHTimeout       = 5 * time.Minute
	DefaultCloudInitTimeout = 15 * time.Minute
	DefaultAccel            = "auto"
	// DefaultGroup owns the system socket on Unix.
	DefaultGroup = "vmgenie"
	// LogFileName is the name of the current log file in <data_dir>/logs.
	LogFileName = "vmgenie.log"
)

// platform is the operating system, mode and environment that the default
// paths and the path rules depend on. Tests build one for another GOOS.
type platform struct {
	goos     string
	userMode bool
	getenv   func(string) string
}

// configPath returns the default config file path:
//   - Windows: %ProgramData%\vmgenie\config.yml, or %AppData%\vmgenie\config.yml
//     in user mode;
//   - elsewhere: /etc/vmgenie/config.yml, or $XDG_CONFIG_HOME/vmgenie/config.yml
//     (default ~/.config) in user mode.
func (p platform) configPath() (string, error) {
	if p.goos == "windows" {
		if p.userMode {
			dir, err := p.windowsDir("APPDATA", "AppData", "Roaming")
			if err != nil {
				return "", err
			}
			return p.join(dir, "vmgenie", "config.yml"), nil
		}
		return p.join(p.programData(), "vmgenie", "config.yml"), nil
	}
	if p.userMode {
		dir, err := p.xdgDir("XDG_CONFIG_HOME", ".config")
		if err != nil {
			return "", err
		}
		return p.join(dir, "vmgenie", "config.yml"), nil
	}
	return "/etc/vmgenie/config.yml", nil
}

// dataDir returns the default data directory:
//   - Windows: %ProgramData%\vmgenie, or %LocalAppData%\vmgenie in user mode;
//   - elsewhere: /var/lib/vmgenie, or $XDG_DATA_HOME/vmgenie (default
//     ~/.local/share) in user mode.
func (p platform) dataDir() (string, error) {
	if p.goos == "windows" {
		if p.userMode {
			dir, err := p.windowsDir("LOCALAPPDATA", "AppData", "Local")
			if err != nil {
				return "", err
			}
			return p.join(dir, "vmgenie"), nil
		}
		return p.join(p.programData(), "vmgenie"), nil
	}
	if p.userMode {
		dir, err := p.xdgDir("XDG_DATA_HOME", ".local", "share")
		if err != nil {
			return "", err
		}
		return p.join(dir, "vmgenie"), nil
	}
	return "/var/lib/vmgenie", nil
}

// defaults returns the configuration without a file.
func (p platform) defaults() (*Config, error) {
	cfg, err := p.baseDefaults()
	if err != nil {
		return nil, err
	}
	p.fillDerived(cfg)
	return cfg, nil
}

// baseDefaults returns the defaults, except the values derived from
// data_dir, which stay empty until the file is decoded.
func (p platform) baseDefaults() (*Config, error) {
	dataDir, err := p.dataDir()
	if err != nil {
		return nil, err
	}
	cfg := &Config{
		DataDir: dataDir,
		Limits: Limits{
			MaxRequestBytes: DefaultMaxRequestBytes,
			RequestTimeout:  DefaultRequestTimeout,
			MaxConnections:  DefaultMaxConnections,
			ShutdownTimeout: DefaultShutdownTimeout,
		},
		Log: Log{
			Level:     DefaultLogLevel,
			MaxSizeMB: DefaultLogMaxSizeMB,
			MaxFiles:  DefaultLogMaxFiles,
		},
		Driver: DefaultDriver,
		Provision: Provision{
			SSHTimeout:       DefaultSSHTimeout,
			CloudInitTimeout: DefaultCloudInitTimeout,
		},
		QEMU:     QEMU{Accel: DefaultAccel},
		UserMode: p.userMode,
	}
	if p.goos != "windows" && !p.userMode {
		cfg.Group = DefaultGroup
	}
	return cfg, nil
}

// fillDerived sets the values that default to places inside data_dir.
func (p platform) fillDerived(cfg *Config) {
	if cfg.TemplateDir == "" {
		cfg.TemplateDir = p.join(cfg.DataDir, "templates")
	}
	if cfg.Log.File == "" {
		cfg.Log.File = p.join(cfg.DataDir, "logs", LogFileName)
	}
}

// xdgDir returns $name when it is an absolute path, as the XDG Base
// Directory specification requires, and else $HOME joined with fallback.
func (p platform) xdgDir(name string, fallback ...string) (string, error) {
	if dir := p.getenv(name); dir != "" && p.isAbs(dir) {
		return dir, nil
	}
	home := p.getenv("HOME")
	if home == "" || !p.isAbs(home) {
		return "", fmt.Errorf("find the user-mode directory: $%s and $HOME are not set to absolute paths: set HOME, or pass --config", name)
	}
	return p.join(append([]string{home}, fallback...)...), nil
}

// windowsDir returns %name%, and else %USERPROFILE% joined with fallback.
func (p platform) windowsDir(name string, fallback ...string) (string, error) {
	if dir := p.getenv(name); dir != "" {
		return dir, nil
	}
	profile := p.getenv("USERPROFILE")
	if profile == "" {
		return "", fmt.Errorf("find the user-mode directory: %%%s%% and %%USERPROFILE%% are not set: set one, or pass --config", name)
	}
	return p.join(append([]string{profile}, fallback...)...), nil
}

func (p platform) programData() string {
	if dir := p.getenv("ProgramData"); dir != "" {
		return dir
	}
	return `C:\ProgramData`
}

// join joins path elements with the separator of p.goos, so that tests on
// Linux can check the Windows defaults.
func (p platform) join(elems ...string) string {
	if p.goos != "windows" {
		return path.Join(elems...)
	}
	parts := make([]string, 0, len(elems))
	for i, e := range elems {
		if i > 0 {
			e = strings.TrimLeft(e, `\/`)
		}
		if i < len(elems)-1 {
			e = strings.TrimRight(e, `\/`)
		}
		if e != "" {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, `\`)
}

// isAbs reports whether name is an absolute path on p.goos. On Windows that
// is a drive letter with a separator (C:\x) or a UNC path (\\host\share).
func (p platform) isAbs(name string) bool {
	if p.goos != "windows" {
		return strings.HasPrefix(name, "/")
	}
	if strings.HasPrefix(name, `\\`) || strings.HasPrefix(name, "//") {
		return true
	}
	return len(name) >= 3 && isLetter(name[0]) && name[1] == ':' && (name[2] == '\\' || name[2] == '/')
}

func isLetter(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}
