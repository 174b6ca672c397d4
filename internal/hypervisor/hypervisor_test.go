package hypervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestErrorIs(t *testing.T) {
	kinds := []error{ErrNotFound, ErrConflict, ErrUnsupported, ErrInvalidState}
	errs := map[error]error{
		ErrNotFound:     NotFound("qemu", "start", "demo"),
		ErrConflict:     Conflict("qemu", "create", "demo", "a VM with this name exists"),
		ErrUnsupported:  Unsupported("qemu", "create", "demo", "UEFI Secure Boot"),
		ErrInvalidState: InvalidState("qemu", "pause", "demo", StateOff, "start it first"),
	}
	for kind, err := range errs {
		wrapped := fmt.Errorf("provision: %w", err)
		for _, other := range kinds {
			if got := errors.Is(wrapped, other); got != (other == kind) {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", err, other, got, other == kind)
			}
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{NotFound("qemu", "start", "demo"), `qemu: start "demo": not found: no VM with this id; run list to see the VMs that exist`},
		{InvalidState("qemu", "start", "demo", StatePaused, "resume it instead"), `qemu: start "demo": invalid state: the VM is paused; resume it instead`},
		{Unsupported("hyperv", "create", "web", "direct kernel boot"), `hyperv: create "web": not supported: direct kernel boot is not supported by the hyperv driver`},
		{&Error{Op: "list", Kind: ErrUnsupported, Err: fs.ErrPermission}, `list: not supported: permission denied`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() =\n %s\nwant\n %s", got, tt.want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	err := &Error{Driver: "qemu", Op: "start", VM: "demo", Kind: ErrUnsupported, Err: fs.ErrPermission}
	if !errors.Is(err, fs.ErrPermission) {
		t.Error("errors.Is(err, fs.ErrPermission) = false, want the underlying error reachable")
	}
	var e *Error
	if !errors.As(fmt.Errorf("x: %w", err), &e) || e.VM != "demo" {
		t.Errorf("errors.As did not find the *Error: %+v", e)
	}
}

func validSpec() Spec {
	return Spec{
		Name:        "demo",
		Dir:         "/var/lib/vmgenie/cloud/demo",
		CPUs:        1,
		MemoryBytes: 512 * MiB,
		Image:       Image{Path: "/var/lib/vmgenie/images/debian.qcow2", Format: "qcow2"},
		SeedISO:     "/var/lib/vmgenie/cloud/demo/seed.iso",
		Network:     Network{Restrict: true, MAC: "52:54:00:12:34:56"},
	}
}

func TestSpecValidate(t *testing.T) {
	if err := validSpec().Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string // substring of the message
	}{
		{"empty name", func(s *Spec) { s.Name = "" }, "name is empty"},
		{"dot dot", func(s *Spec) { s.Name = ".." }, `name ".."`},
		{"leading dash", func(s *Spec) { s.Name = "-rf" }, "starts with a dash"},
		{"slash", func(s *Spec) { s.Name = "a/b" }, "path separator"},
		{"backslash", func(s *Spec) { s.Name = `a\b` }, "path separator"},
		{"newline", func(s *Spec) { s.Name = "a\nb" }, "control character"},
		{"empty dir", func(s *Spec) { s.Dir = "" }, "dir is empty"},
		{"relative dir", func(s *Spec) { s.Dir = "cloud/demo" }, `dir "cloud/demo" is not an absolute path`},
		{"relative image", func(s *Spec) { s.Image.Path = "debian.qcow2" }, "image path"},
		{"empty format", func(s *Spec) { s.Image.Format = "" }, "image format"},
		{"relative kernel", func(s *Spec) { s.Boot.Kernel = "vmlinuz" }, "boot kernel"},
		{"relative seed", func(s *Spec) { s.SeedISO = "seed.iso" }, "seed ISO"},
		{"relative serial log", func(s *Spec) { s.SerialLog = "serial.log" }, "serial log"},
		{"zero cpus", func(s *Spec) { s.CPUs = 0 }, "cpus 0"},
		{"zero memory", func(s *Spec) { s.MemoryBytes = 0 }, "memory 0 bytes"},
		{"odd memory", func(s *Spec) { s.MemoryBytes = 512*MiB + 1 }, "multiple of 1 MiB"},
		{"unknown firmware", func(s *Spec) { s.Boot.Firmware = "coreboot" }, `firmware "coreboot"`},
		{"secure boot on bios", func(s *Spec) { s.Boot.SecureBoot = true }, "secure boot needs"},
		{"initrd without kernel", func(s *Spec) { s.Boot.Initrd = "/boot/initrd.img" }, "without a kernel"},
		{"cmdline without kernel", func(s *Spec) { s.Boot.Cmdline = "console=ttyS0" }, "without a kernel"},
		{"bad mac", func(s *Spec) { s.Network.MAC = "52:54:00:12:34" }, "MAC address"},
		{"long mac", func(s *Spec) { s.Network.MAC = "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01" }, "MAC address"},
		{"multicast mac", func(s *Spec) { s.Network.MAC = "01:00:5e:00:00:01" }, "multicast"},
		{"port too big", func(s *Spec) { s.SSH.HostPort = 70000 }, "SSH host port 70000"},
		{"negative guest port", func(s *Spec) { s.SSH.GuestPort = -1 }, "SSH guest port -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.mutate(&s)
			err := s.Validate()
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Validate: err = %v, want ErrInvalidSpec", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestSpecValidateAcceptsBootVariants(t *testing.T) {
	variants := map[string]Boot{
		"uefi":        {Firmware: FirmwareUEFI},
		"secure boot": {Firmware: FirmwareUEFI, SecureBoot: true},
		"kernel":      {Kernel: "/img/vmlinuz", Initrd: "/img/initrd.img", Cmdline: "root=LABEL=rootfs"},
	}
	for name, boot := range variants {
		s := validSpec()
		s.Boot = boot
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEndpointString(t *testing.T) {
	tests := map[Endpoint]string{
		{Host: "127.0.0.1", Port: 2222}:  "127.0.0.1:2222",
		{Host: "fe80::1", Port: 22}:      "[fe80::1]:22",
		{Host: "192.168.1.20", Port: 22}: "192.168.1.20:22",
	}
	for ep, want := range tests {
		if got := ep.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", ep, got, want)
		}
	}
}
