package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Bounds of the numeric keys. They reject typos and values that cannot
// work, not values that are merely unusual.
const (
	minRequestBytes = 1 << 10 // a status request alone is about 60 bytes
	maxRequestBytes = 64 << 20
	maxConnections  = 10000
	maxLogSizeMB    = 1024
	maxLogFiles     = 100
)

// groupName is the rule for Unix group names: the POSIX portable set,
// starting with a letter or underscore, as groupadd accepts them.
var groupName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)

// validate checks the values of a decoded config. positions gives the
// place of each key that the file set; other keys hold defaults.
func validate(cfg *Config, p platform, positions map[string]position) []Problem {
	v := &validator{p: p, positions: positions}

	v.absPath("data_dir", cfg.DataDir)
	v.absPathIfSet("template_dir", cfg.TemplateDir)
	v.socket(cfg.Socket)
	if p.goos != "windows" && !p.userMode && !groupName.MatchString(cfg.Group) {
		v.addf("group", "invalid group %q: use a Unix group name of letters, digits, '_', '.' or '-', starting with a letter or '_', such as %q",
			cfg.Group, DefaultGroup)
	}

	v.intRange("limits.max_request_bytes", cfg.Limits.MaxRequestBytes, minRequestBytes, maxRequestBytes)
	v.positiveDuration("limits.request_timeout", cfg.Limits.RequestTimeout)
	v.intRange("limits.max_connections", int64(cfg.Limits.MaxConnections), 1, maxConnections)
	v.positiveDuration("limits.shutdown_timeout", cfg.Limits.ShutdownTimeout)

	v.oneOf("log.level", cfg.Log.Level, LogLevels)
	v.absPathIfSet("log.file", cfg.Log.File)
	v.intRange("log.max_size_mb", int64(cfg.Log.MaxSizeMB), 1, maxLogSizeMB)
	v.intRange("log.max_files", int64(cfg.Log.MaxFiles), 0, maxLogFiles)

	v.oneOf("driver", cfg.Driver, Drivers)
	if cfg.Driver == "hyperv" && p.goos != "windows" {
		v.addf("driver", "driver hyperv runs only on Windows: use qemu or auto on %s", p.goos)
	}

	v.positiveDuration("provision.ssh_timeout", cfg.Provision.SSHTimeout)
	v.positiveDuration("provision.cloud_init_timeout", cfg.Provision.CloudInitTimeout)
	v.oneOf("qemu.accel", cfg.QEMU.Accel, Accelerators)

	return v.problems
}

type validator struct {
	p         platform
	positions map[string]position
	problems  []Problem
}

func (v *validator) addf(key, format string, args ...any) {
	pos := v.positions[key]
	v.problems = append(v.problems, Problem{Key: key, Line: pos.line, Column: pos.column, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) absPath(key, value string) {
	if v.p.isAbs(value) {
		return
	}
	hint := ""
	if strings.HasPrefix(value, "~") {
		hint = " (~ is not expanded)"
	}
	example := "/var/lib/vmgenie"
	if v.p.goos == "windows" {
		example = `C:\ProgramData\vmgenie`
	}
	v.addf(key, "%s must be an absolute path, found %q%s: write the full path, such as %s", key, value, hint, example)
}

// absPathIfSet checks a path that defaults to a place inside data_dir, only
// when the file set it: a relative data_dir is reported once, on data_dir.
func (v *validator) absPathIfSet(key, value string) {
	if _, set := v.positions[key]; set {
		v.absPath(key, value)
	}
}

func (v *validator) socket(address string) {
	if address == "" {
		return
	}
	if v.p.goos == "windows" {
		const prefix = `\\.\pipe\`
		name, ok := strings.CutPrefix(address, prefix)
		if !ok || name == "" || strings.Contains(name, `\`) || len(address) > 256 {
			v.addf("socket", `invalid pipe name %q: use \\.\pipe\ followed by a name without backslashes, such as \\.\pipe\vmgenie, at most 256 characters`, address)
		}
		return
	}
	if !v.p.isAbs(address) {
		v.addf("socket", "socket must be an absolute path, found %q: write the full path, such as /run/vmgenie/vmgenie.sock", address)
		return
	}
	// sun_path holds 108 bytes on Linux and 104 on macOS and the BSDs,
	// including the terminating NUL.
	limit := 103
	if v.p.goos == "linux" {
		limit = 107
	}
	if len(address) > limit {
		v.addf("socket", "socket path %q is %d bytes, longer than the %d bytes a Unix socket address holds on %s: choose a shorter path",
			address, len(address), limit, v.p.goos)
	}
}

func (v *validator) intRange(key string, value, lo, hi int64) {
	if value < lo || value > hi {
		v.addf(key, "%s must be between %d and %d, found %d", key, lo, hi, value)
	}
}

func (v *validator) positiveDuration(key string, value time.Duration) {
	if value <= 0 {
		v.addf(key, "%s must be a positive duration, such as \"30s\", found %s", key, value)
	}
}

func (v *validator) oneOf(key, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		v.addf(key, "invalid %s %q: use %s", key, value, orList(allowed))
	}
}

// orList formats values as "a, b or c".
func orList(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
