// Package config loads the vmgenie configuration file: one YAML file that sets
// the data and template directories, the service endpoint, the service
// limits, logging, the hypervisor driver and provisioning timeouts.
//
// The file is decoded by walking go.yaml.in/yaml/v3 nodes instead of calling
// yaml.Unmarshal into the struct. yaml.Unmarshal stops at the first type
// error in a mapping and ignores unknown keys unless asked, and with
// KnownFields it still stops at the first one. Walking the nodes lets Load
// report every unknown key, wrong type and invalid value of the file in one
// error, each with its line and column and a fix.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"
)

// EnvConfig names the environment variable that sets the config file path
// when --config is not given.
const EnvConfig = "VMGENIE_CONFIG"

// Drivers lists the values of the driver key.
var Drivers = []string{"auto", "qemu", "hyperv", "none"}

// Accelerators lists the values of the qemu.accel key.
var Accelerators = []string{"auto", "kvm", "hvf", "tcg"}

// LogLevels lists the values of the log.level key.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Config is the whole configuration of the service. After Load or Parse
// every field holds a value: either the file's or the default for the
// platform and mode.
type Config struct {
	// DataDir contains the service's state: logs, disks, operations.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// TemplateDir contains templates that add to or override the embedded
	// catalog. It need not exist.
	TemplateDir string `yaml:"template_dir" json:"template_dir"`
	// Socket is the service address: a Unix socket path or a Windows pipe
	// name. Empty means the transport's default for the platform and mode.
	Socket string `yaml:"socket" json:"socket"`
	// Group owns the system socket on Unix. Unused on Windows and in user mode.
	Group string `yaml:"group" json:"group"`

	Limits    Limits    `yaml:"limits" json:"limits"`
	Log       Log       `yaml:"log" json:"log"`
	Driver    string    `yaml:"driver" json:"driver"`
	Provision Provision `yaml:"provision" json:"provision"`
	QEMU      QEMU      `yaml:"qemu" json:"qemu"`

	// File is the path of the file that was read, or empty when the default
	// file did not exist and only defaults apply.
	File string `yaml:"-" json:"file"`
	// UserMode is true for a per-user service; it chose the default paths.
	UserMode bool `yaml:"-" json:"user_mode"`
}

// Limits bounds what the service accepts from clients.
type Limits struct {
	// MaxRequestBytes is the maximum length of one request line, in bytes.
	MaxRequestBytes int64 `yaml:"max_request_bytes" json:"max_request_bytes"`
	// RequestTimeout is the time a client has to send its request line.
	RequestTimeout time.Duration `yaml:"request_timeout" json:"request_timeout"`
	// MaxConnections is the number of connections served at once; more wait.
	MaxConnections int `yaml:"max_connections" json:"max_connections"`
	// ShutdownTimeout is the time in-flight requests get to finish when the
	// service stops.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`
}

// Log configures the service log file.
type Log struct {
	// Level is the minimum level written: debug, info, warn or error.
	Level string `yaml:"level" json:"level"`
	// File is the path of the current log file.
	File string `yaml:"file" json:"file"`
	// MaxSizeMB is the size in MiB at which the file is rotated.
	MaxSizeMB int `yaml:"max_size_mb" json:"max_size_mb"`
	// MaxFiles is the number of rotated files kept besides the current one.
	MaxFiles int `yaml:"max_files" json:"max_files"`
}

// Provision holds the timeouts of provisioning a VM.
type Provision struct {
	// SSHTimeout is the time a new VM has to accept SSH connections.
	SSHTimeout time.Duration `yaml:"ssh_timeout" json:"ssh_timeout"`
	// CloudInitTimeout is the time cloud-init has to finish in a new VM.
	CloudInitTimeout time.Duration `yaml:"cloud_init_timeout" json:"cloud_init_timeout"`
}

// QEMU configures the QEMU driver.
type QEMU struct {
	// Accel is the accelerator: auto, kvm, hvf or tcg.
	Accel string `yaml:"accel" json:"accel"`
	// RestrictNetwork cuts guests off from every network but the SSH port
	// forward on 127.0.0.1 (user networking restrict=on). Guests then
	// install no packages, since they cannot reach a mirror.
	RestrictNetwork bool `yaml:"restrict_network" json:"restrict_network"`
}

// LoadOptions selects the file that Load reads.
type LoadOptions struct {
	// Path is the value of --config. Empty means $VMGENIE_CONFIG, then the
	// default path for the platform and mode.
	Path string
	// UserMode selects the per-user paths and defaults.
	UserMode bool
	// Getenv reads the environment; nil means os.Getenv. Tests set it.
	Getenv func(string) string
}

// Load reads, decodes and validates the config file. A file named by
// --config or $VMGENIE_CONFIG must exist. When the default file does not
// exist, Load returns the defaults. Every problem of the file is reported in
// one *Error.
func Load(opts LoadOptions) (*Config, error) {
	p := hostPlatform(opts.UserMode, opts.Getenv)

	path, explicit := opts.Path, opts.Path != ""
	if !explicit {
		if env := p.getenv(EnvConfig); env != "" {
			path, explicit = env, true
		}
	}
	if !explicit {
		def, err := p.configPath()
		if err != nil {
			return nil, err
		}
		path = def
	}

	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parse(data, path, p)
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return p.defaults()
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s not found: create it, or remove --config and %s to use the defaults: %w",
			path, EnvConfig, err)
	default:
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
}

// Parse decodes and validates config file content for this platform. The
// name is used in error messages and stored as Config.File.
func Parse(data []byte, name string, userMode bool) (*Config, error) {
	return parse(data, name, hostPlatform(userMode, nil))
}

// Default returns the configuration used when there is no config file.
func Default(userMode bool) (*Config, error) {
	return hostPlatform(userMode, nil).defaults()
}

// DefaultPath returns the config file path used when neither --config nor
// $VMGENIE_CONFIG is set.
func DefaultPath(userMode bool) (string, error) {
	return hostPlatform(userMode, nil).configPath()
}

func hostPlatform(userMode bool, getenv func(string) string) platform {
	if getenv == nil {
		getenv = os.Getenv
	}
	return platform{goos: runtime.GOOS, userMode: userMode, getenv: getenv}
}
