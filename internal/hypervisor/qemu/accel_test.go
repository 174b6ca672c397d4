package qemu

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

const (
	cpuinfoVMX = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr vmx sse2\n\nprocessor\t: 1\nflags\t\t: fpu vmx\n"
	cpuinfoSVM = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm lm\n"
	// cpuinfoNone is a nested guest whose CPU hides vmx; "vmxfoo" and a
	// vmx in another field must not count.
	cpuinfoNone = "processor\t: 0\nmodel name\t: vmx-capable CPU\nflags\t\t: fpu vmxfoo sse2 hypervisor\nbugs\t\t: vmx\n"
)

var errNoDevice = &fs.PathError{Op: "open", Path: "/dev/kvm", Err: fs.ErrNotExist}

func TestChooseAccel(t *testing.T) {
	tests := []struct {
		name      string
		requested Accel
		host      hostProbe
		want      Accel
		reason    string // substring of the reason
		warning   bool
	}{
		{"linux vmx", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoVMX}, AccelKVM, "advertises vmx", false},
		{"linux svm", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoSVM}, AccelKVM, "advertises svm", false},
		{"empty means auto", "", hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoSVM}, AccelKVM, "svm", false},
		{"kvm device without cpu flag", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoNone}, AccelTCG, "neither vmx nor svm", false},
		{"no kvm device", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoVMX, KVMErr: errNoDevice}, AccelTCG, "does not open read-write", false},
		{"kvm permission denied", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoVMX, KVMErr: fs.ErrPermission}, AccelTCG, "permission denied", false},
		{"cpuinfo unreadable", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfoErr: errors.New("no proc")}, AccelTCG, "cannot read /proc/cpuinfo", false},
		{"arm64 linux kvm", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "arm64", CPUInfo: "Features\t: fp asimd\n"}, AccelKVM, "opens read-write", false},
		{"arm64 linux no kvm", AccelAuto, hostProbe{GOOS: "linux", GOARCH: "arm64", KVMErr: errNoDevice}, AccelTCG, "does not open", false},
		{"macos hvf", AccelAuto, hostProbe{GOOS: "darwin", GOARCH: "arm64", HVF: true}, AccelHVF, "kern.hv_support is 1", false},
		{"macos no hvf", AccelAuto, hostProbe{GOOS: "darwin", GOARCH: "amd64"}, AccelTCG, "kern.hv_support is 0", false},
		{"macos sysctl error", AccelAuto, hostProbe{GOOS: "darwin", GOARCH: "amd64", HVFErr: errors.New("unknown oid")}, AccelTCG, "cannot read kern.hv_support", false},
		{"other os", AccelAuto, hostProbe{GOOS: "freebsd", GOARCH: "amd64"}, AccelTCG, "freebsd", false},
		{"tcg requested", AccelTCG, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoVMX}, AccelTCG, "requested", false},
		{"kvm requested and usable", AccelKVM, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoVMX}, AccelKVM, "requested", false},
		{"kvm requested without flag", AccelKVM, hostProbe{GOOS: "linux", GOARCH: "amd64", CPUInfo: cpuinfoNone}, AccelKVM, "requested", true},
		{"hvf requested without support", AccelHVF, hostProbe{GOOS: "darwin", GOARCH: "arm64"}, AccelHVF, "requested", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseAccel(tt.requested, tt.host)
			if err != nil {
				t.Fatalf("chooseAccel: %v", err)
			}
			if got.Accel != tt.want {
				t.Errorf("Accel = %s, want %s (reason %q)", got.Accel, tt.want, got.Reason)
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", got.Reason, tt.reason)
			}
			if (got.Warning != "") != tt.warning {
				t.Errorf("Warning = %q, want a warning: %v", got.Warning, tt.warning)
			}
		})
	}
}

func TestChooseAccelRejects(t *testing.T) {
	tests := []struct {
		name      string
		requested Accel
		goos      string
	}{
		{"kvm on macos", AccelKVM, "darwin"},
		{"hvf on linux", AccelHVF, "linux"},
		{"unknown", "xen", "linux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chooseAccel(tt.requested, hostProbe{GOOS: tt.goos, GOARCH: "amd64"})
			if err == nil {
				t.Fatalf("chooseAccel(%s) on %s succeeded, want an error", tt.requested, tt.goos)
			}
			if !strings.Contains(err.Error(), string(tt.requested)) {
				t.Errorf("error %q does not name %q", err, tt.requested)
			}
		})
	}
}

func TestAccelArgs(t *testing.T) {
	tests := map[Accel][]string{
		AccelKVM: {"-accel", "kvm", "-cpu", "host"},
		AccelHVF: {"-accel", "hvf", "-cpu", "host"},
		AccelTCG: {"-accel", "tcg,thread=multi", "-cpu", "max"},
	}
	for accel, want := range tests {
		if got := accel.args(); !slices.Equal(got, want) {
			t.Errorf("%s.args() = %q, want %q", accel, got, want)
		}
	}
}

// TestProbeHostPicksTCGHere checks the real probe on Linux machines whose
// CPU does not advertise vmx or svm, such as this project's test machines,
// where /dev/kvm exists but KVM fails with "emulation failure".
func TestProbeHostPicksTCGHere(t *testing.T) {
	h := probeHost()
	if h.GOOS != "linux" || virtualizationFlag(h.CPUInfo) != "" {
		t.Skipf("host %s advertises %q; this check is for Linux hosts without vmx or svm", h.GOOS, virtualizationFlag(h.CPUInfo))
	}
	got, err := chooseAccel(AccelAuto, h)
	if err != nil {
		t.Fatal(err)
	}
	if got.Accel != AccelTCG {
		t.Errorf("auto chose %s (%s), want tcg", got.Accel, got.Reason)
	}
}
