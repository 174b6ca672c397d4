// Package systemd writes the systemd unit of the vmgenie service and runs
// systemctl to install, start, stop and remove it.
//
// The package runs the systemctl program rather than talking to systemd
// over D-Bus (as github.com/coreos/go-systemd does): the commands are the
// ones an administrator would type, so their errors read the same, and no
// D-Bus connection or library is needed for five calls.
package systemd

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"text/template"
	"time"
)

// UnitName is the name of the service's unit, system or user.
const UnitName = "vmgenie.service"

// SystemUnitDir is where system units written by an administrator live.
const SystemUnitDir = "/etc/systemd/system"

// UnitOptions describes the unit to write.
type UnitOptions struct {
	// Binary is the absolute path of the vmgenie executable.
	Binary string
	// Args follow "serve" on the command line, such as ["--config", path].
	Args []string
	// User selects a user unit, which runs "vmgenie serve --user".
	User bool
	// WritableDirs are made writable in the system unit, whose file system
	// is otherwise read-only (ProtectSystem=strict): the data directory and
	// any log or socket directory outside it. At least one is required.
	WritableDirs []string
	// ShutdownTimeout is the service's own shutdown deadline. systemd's
	// stop timeout is set 15 s longer, so that the service can finish
	// before it is killed.
	ShutdownTimeout time.Duration
}

// stopMargin is added to the shutdown timeout for TimeoutStopSec.
const stopMargin = 15 * time.Second

var unitTemplate = template.Must(template.New("unit").Parse(`# Written by "vmgenie service install{{if .User}} --user{{end}}". Remove it with
# "vmgenie service uninstall{{if .User}} --user{{end}}".
[Unit]
Description=VmGenie Service: provisions Linux VMs from cloud-init templates
After=network.target

[Service]
Type=exec
ExecStart={{.ExecStart}}
Restart=on-failure
RestartSec=5s
TimeoutStopSec={{.StopSeconds}}
# VMs are daemonized QEMU processes in this unit's control group. They must
# outlive a stop or restart of the service, so only the service is signaled.
KillMode=process
{{- if not .User}}
# The socket /run/vmgenie/vmgenie.sock lives here; systemd creates the
# directory at start and removes it at stop.
RuntimeDirectory=vmgenie
RuntimeDirectoryMode=0755
UMask=0027
# Hardening. QEMU still runs: /dev/kvm stays reachable, and
# MemoryDenyWriteExecute is left off because QEMU's TCG accelerator
# generates code at run time.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{.ReadWritePaths}}
ProtectHome=read-only
PrivateTmp=yes
DevicePolicy=closed
DeviceAllow=/dev/kvm rw
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
{{- else}}
NoNewPrivileges=yes
{{- end}}

[Install]
WantedBy={{if .User}}default.target{{else}}multi-user.target{{end}}
`))

// RenderUnit returns the text of the unit file. It rejects paths that are
// not absolute and values that a unit file cannot contain, such as newlines.
func RenderUnit(opts UnitOptions) (string, error) {
	if !path.IsAbs(opts.Binary) {
		return "", fmt.Errorf("invalid vmgenie binary path %q: the unit needs an absolute path", opts.Binary)
	}
	args := append([]string{opts.Binary, "serve"}, opts.Args...)
	if opts.User {
		args = append(args, "--user")
	}
	execStart, err := quoteCommandLine(args)
	if err != nil {
		return "", err
	}

	var writable []string
	if !opts.User {
		for _, dir := range uniqueNonEmpty(opts.WritableDirs...) {
			if !path.IsAbs(dir) {
				return "", fmt.Errorf("invalid writable directory %q: the unit needs an absolute path", dir)
			}
			// The "-" prefix ignores a directory that does not exist yet.
			word, err := quoteWord("-"+dir, false)
			if err != nil {
				return "", err
			}
			writable = append(writable, word)
		}
		if len(writable) == 0 {
			return "", fmt.Errorf("the system unit needs at least one writable directory, the data directory")
		}
	}

	stop := opts.ShutdownTimeout + stopMargin
	data := struct {
		User           bool
		ExecStart      string
		ReadWritePaths string
		StopSeconds    int64
	}{
		User:           opts.User,
		ExecStart:      execStart,
		ReadWritePaths: strings.Join(writable, " "),
		StopSeconds:    int64((stop + time.Second - 1) / time.Second),
	}
	var b bytes.Buffer
	if err := unitTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render the systemd unit: %w", err)
	}
	return b.String(), nil
}

// quoteCommandLine quotes the executable and each argument for ExecStart.
func quoteCommandLine(args []string) (string, error) {
	// systemd 252 rejects an executable path that contains a quote or a
	// backslash ("Executable name contains special characters"), even
	// quoted, and expands no environment variables in it.
	if strings.ContainsAny(args[0], `"'\`) {
		return "", fmt.Errorf("invalid vmgenie binary path %q: systemd does not accept quotes or backslashes in an executable path; move vmgenie to a directory without them", args[0])
	}
	words := make([]string, len(args))
	for i, arg := range args {
		word, err := quoteWord(arg, i > 0)
		if err != nil {
			return "", err
		}
		words[i] = word
	}
	return strings.Join(words, " "), nil
}

// quoteWord quotes s as one word of a unit file setting, following
// systemd.syntax(7) and systemd.service(5) of systemd 252: the word is put
// in double quotes, in which backslash and double quote are escaped with a
// backslash, and "%", which starts a specifier, is doubled. In ExecStart
// arguments "$" starts an environment variable, so with expandsEnv it is
// doubled too. Control characters, such as newlines, cannot be written and
// are rejected.
func quoteWord(s string, expandsEnv bool) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '%':
			b.WriteString("%%")
		case r == '$' && expandsEnv:
			b.WriteString("$$")
		case r < 0x20 || r == 0x7f:
			return "", fmt.Errorf("invalid value %q for a systemd unit: it contains the control character %U", s, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

func uniqueNonEmpty(values ...string) []string {
	var out []string
	for _, v := range values {
		if v == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == v || strings.HasPrefix(v, strings.TrimSuffix(o, "/")+"/") {
				dup = true
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// UserUnitDir returns the directory of user units:
// $XDG_CONFIG_HOME/systemd/user, or ~/.config/systemd/user.
func UserUnitDir(getenv func(string) string) (string, error) {
	if dir := getenv("XDG_CONFIG_HOME"); path.IsAbs(dir) {
		return path.Join(dir, "systemd", "user"), nil
	}
	home := getenv("HOME")
	if !path.IsAbs(home) {
		return "", fmt.Errorf("find the user unit directory: $XDG_CONFIG_HOME and $HOME are not set to absolute paths: set HOME")
	}
	return path.Join(home, ".config", "systemd", "user"), nil
}
