package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Manager installs and controls the vmgenie unit through systemctl.
type Manager struct {
	// User selects the user's service manager (systemctl --user).
	User bool
	// UnitDir is where the unit file is written: SystemUnitDir, or the
	// result of UserUnitDir.
	UnitDir string
	// Systemctl is the systemctl program, looked up in PATH when it has no
	// slash. Empty means "systemctl".
	Systemctl string
}

// UnitPath returns the path of the unit file.
func (m *Manager) UnitPath() string {
	return filepath.Join(m.UnitDir, UnitName)
}

// Install writes the unit file, reloads systemd, and enables and starts
// the unit. An existing unit file is replaced, so that install also
// upgrades the unit after the binary moved or the options changed.
func (m *Manager) Install(ctx context.Context, unitText string) error {
	if err := os.MkdirAll(m.UnitDir, 0o755); err != nil {
		return fmt.Errorf("create unit directory %s: %w", m.UnitDir, err)
	}
	if err := writeFileAtomic(m.UnitPath(), []byte(unitText), 0o644); err != nil {
		return err
	}
	if _, err := m.systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	if _, err := m.systemctl(ctx, "enable", "--now", UnitName); err != nil {
		return err
	}
	return nil
}

// Uninstall disables and stops the unit, removes its file and reloads
// systemd. A unit that is not installed is an error that wraps
// fs.ErrNotExist.
func (m *Manager) Uninstall(ctx context.Context) error {
	if _, err := os.Stat(m.UnitPath()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unit %s is not installed: nothing to uninstall: %w", m.UnitPath(), err)
		}
		return fmt.Errorf("check unit file %s: %w", m.UnitPath(), err)
	}
	if _, err := m.systemctl(ctx, "disable", "--now", UnitName); err != nil {
		return err
	}
	if err := os.Remove(m.UnitPath()); err != nil {
		return fmt.Errorf("remove unit file %s: %w", m.UnitPath(), err)
	}
	_, err := m.systemctl(ctx, "daemon-reload")
	return err
}

// Start starts the unit.
func (m *Manager) Start(ctx context.Context) error {
	_, err := m.systemctl(ctx, "start", UnitName)
	return err
}

// Stop stops the unit.
func (m *Manager) Stop(ctx context.Context) error {
	_, err := m.systemctl(ctx, "stop", UnitName)
	return err
}

// Status is what systemd reports about the unit.
type Status struct {
	Unit string `json:"unit"`
	// UnitFile is the path of the unit file, empty when it is not installed.
	UnitFile string `json:"unit_file"`
	// Enabled is systemctl is-enabled's answer, such as "enabled",
	// "disabled" or "not-found".
	Enabled string `json:"enabled"`
	// Active is systemctl is-active's answer, such as "active",
	// "inactive" or "failed".
	Active string `json:"active"`
}

// Status reports whether the unit is installed, enabled and active.
// is-enabled and is-active exit non-zero for a unit that is not enabled or
// not active, so their output, not their exit status, is the answer. A
// unit without a unit file is "not-found" without asking systemctl.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	st := Status{Unit: UnitName, Enabled: "not-found"}
	var err error
	if _, statErr := os.Stat(m.UnitPath()); statErr == nil {
		st.UnitFile = m.UnitPath()
		if st.Enabled, err = m.query(ctx, "is-enabled"); err != nil {
			return st, err
		}
	}
	if st.Active, err = m.query(ctx, "is-active"); err != nil {
		return st, err
	}
	return st, nil
}

// query runs a systemctl query verb and returns its one-word answer. A
// non-zero exit with an answer is an answer; without one it is an error,
// such as systemd not running.
func (m *Manager) query(ctx context.Context, verb string) (string, error) {
	out, err := m.systemctl(ctx, verb, UnitName)
	answer := strings.TrimSpace(out)
	var exitErr *exec.ExitError
	if err == nil || (errors.As(err, &exitErr) && answer != "") {
		return answer, nil
	}
	return "", err
}

// systemctl runs systemctl with a fixed argument list, never through a
// shell, and returns its standard output. Its error includes what
// systemctl printed on standard error.
func (m *Manager) systemctl(ctx context.Context, args ...string) (string, error) {
	program := m.Systemctl
	if program == "" {
		program = "systemctl"
	}
	if m.User {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.CommandContext(ctx, program, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		detail := strings.TrimSpace(stderr.String())
		if detail == "" {
			detail = strings.TrimSpace(stdout.String())
		}
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("run %s %s: systemctl not found: this system does not run systemd; start the service with \"vmgenie serve\" instead: %w",
				program, strings.Join(args, " "), err)
		}
		if detail != "" {
			return stdout.String(), fmt.Errorf("%s %s failed: %s: %w", program, strings.Join(args, " "), detail, err)
		}
		return stdout.String(), fmt.Errorf("%s %s failed: %w", program, strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, so that systemd never reads a half-written unit.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write unit file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write unit file %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write unit file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write unit file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write unit file %s: %w", path, err)
	}
	return nil
}
