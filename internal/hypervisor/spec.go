package hypervisor

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"unicode"
)

// ErrInvalidSpec marks a Spec that fails validation. Drivers wrap it, so callers
// can use errors.Is(err, ErrInvalidSpec) to separate bad input from a failed operation.
var ErrInvalidSpec = errors.New("invalid VM spec")

// MiB is one mebibyte in bytes.
const MiB = 1 << 20

// Validate checks the rules every driver shares. Drivers check their own
// limits (formats, firmware, sizes) on top of it.
func (s Spec) Validate() error {
	checks := []func() error{
		s.validateName,
		s.validatePaths,
		s.validateResources,
		s.validateBoot,
		s.validateNetwork,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
	}
	return nil
}

func (s Spec) validateName() error {
	switch {
	case s.Name == "":
		return errors.New("name is empty; give the VM a name")
	case s.Name == "." || s.Name == "..":
		return fmt.Errorf("name %q is not allowed; use letters, digits and dashes", s.Name)
	case strings.HasPrefix(s.Name, "-"):
		return fmt.Errorf("name %q starts with a dash; start it with a letter or digit", s.Name)
	case strings.ContainsAny(s.Name, `/\`):
		return fmt.Errorf("name %q contains a path separator; use letters, digits and dashes", s.Name)
	}
	for _, r := range s.Name {
		if unicode.IsControl(r) {
			return fmt.Errorf("name %q contains a control character; use letters, digits and dashes", s.Name)
		}
	}
	return nil
}

func (s Spec) validatePaths() error {
	paths := []struct {
		field, value string
		required     bool
	}{
		{"dir", s.Dir, true},
		{"image path", s.Image.Path, true},
		{"boot kernel", s.Boot.Kernel, false},
		{"boot initrd", s.Boot.Initrd, false},
		{"seed ISO", s.SeedISO, false},
		{"serial log", s.SerialLog, false},
	}
	for _, p := range paths {
		if p.value == "" {
			if p.required {
				return fmt.Errorf("%s is empty; set it to an absolute path", p.field)
			}
			continue
		}
		if !filepath.IsAbs(p.value) {
			return fmt.Errorf("%s %q is not an absolute path; resolve it first", p.field, p.value)
		}
	}
	if s.Image.Format == "" {
		return fmt.Errorf("image format for %q is empty; set it to qcow2, raw, vhdx or vpc", s.Image.Path)
	}
	return nil
}

func (s Spec) validateResources() error {
	if s.CPUs < 1 {
		return fmt.Errorf("cpus %d is below 1; give the VM at least one CPU", s.CPUs)
	}
	if s.MemoryBytes == 0 || s.MemoryBytes%MiB != 0 {
		return fmt.Errorf("memory %d bytes is not a positive multiple of 1 MiB (%d bytes)", s.MemoryBytes, MiB)
	}
	return nil
}

func (s Spec) validateBoot() error {
	switch s.Boot.Firmware {
	case "", FirmwareBIOS, FirmwareUEFI:
	default:
		return fmt.Errorf("firmware %q is unknown; use %q or %q", s.Boot.Firmware, FirmwareBIOS, FirmwareUEFI)
	}
	if s.Boot.SecureBoot && s.Boot.Firmware != FirmwareUEFI {
		return fmt.Errorf("secure boot needs firmware %q, not %q", FirmwareUEFI, s.Boot.Firmware)
	}
	if s.Boot.Kernel == "" && (s.Boot.Initrd != "" || s.Boot.Cmdline != "") {
		return errors.New("boot initrd or cmdline is set without a kernel; set the kernel too, or clear them")
	}
	return nil
}

func (s Spec) validateNetwork() error {
	if s.Network.MAC != "" {
		mac, err := net.ParseMAC(s.Network.MAC)
		if err != nil || len(mac) != 6 {
			return fmt.Errorf("MAC address %q is invalid; use six hex pairs such as 52:54:00:12:34:56", s.Network.MAC)
		}
		if mac[0]&1 == 1 {
			return fmt.Errorf("MAC address %q is a multicast address; the first octet must be even", s.Network.MAC)
		}
	}
	for _, p := range []struct {
		field string
		port  int
	}{{"SSH host port", s.SSH.HostPort}, {"SSH guest port", s.SSH.GuestPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s %d is outside 0-65535", p.field, p.port)
		}
	}
	return nil
}
