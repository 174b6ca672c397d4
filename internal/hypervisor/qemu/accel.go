package qemu

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Accel is a QEMU accelerator name, as Config.Accel takes it.
type Accel string

// Accelerators. AccelAuto picks one for the host (see chooseAccel).
const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
	AccelHVF  Accel = "hvf"
)

// args returns the -accel and -cpu arguments for a.
func (a Accel) args() []string {
	switch a {
	case AccelKVM, AccelHVF:
		return []string{"-accel", string(a), "-cpu", "host"}
	default:
		return []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
	}
}

// hostProbe is what the accelerator choice depends on, gathered by
// probeHost and faked in tests.
type hostProbe struct {
	GOOS, GOARCH string
	// CPUInfo is the content of /proc/cpuinfo (Linux); CPUInfoErr is the
	// error from reading it.
	CPUInfo    string
	CPUInfoErr error
	// KVMErr is the error from opening /dev/kvm read-write (Linux); nil
	// means it opened.
	KVMErr error
	// HVF is true when macOS reports kern.hv_support=1; HVFErr is the error
	// from reading it.
	HVF    bool
	HVFErr error
}

// accelChoice is the chosen accelerator with the reason for the choice.
type accelChoice struct {
	Accel  Accel
	Reason string
	// Warning is set when a requested accelerator failed its checks but is
	// used anyway because the configuration asked for it.
	Warning string
}

// chooseAccel picks the accelerator for the requested mode on the probed
// host. auto uses KVM only when /dev/kvm opens read-write and, on x86, the
// CPU advertises vmx or svm. A /dev/kvm without those flags can exist, for
// example under nested virtualization that does not pass them on, and then
// KVM stops the guest with "emulation failure". An explicit kvm, hvf or tcg
// is used as given, with a warning when its checks fail.
func chooseAccel(requested Accel, h hostProbe) (accelChoice, error) {
	switch requested {
	case "", AccelAuto:
		return chooseAuto(h), nil
	case AccelTCG:
		return accelChoice{Accel: AccelTCG, Reason: "accel tcg was requested"}, nil
	case AccelKVM:
		if h.GOOS != "linux" {
			return accelChoice{}, fmt.Errorf("accel kvm is not available on %s; use auto, tcg or hvf (macOS)", h.GOOS)
		}
		c := accelChoice{Accel: AccelKVM, Reason: "accel kvm was requested"}
		if ok, reason := kvmUsable(h); !ok {
			c.Warning = "KVM checks failed (" + reason + "); the guest may not start"
		}
		return c, nil
	case AccelHVF:
		if h.GOOS != "darwin" {
			return accelChoice{}, fmt.Errorf("accel hvf is not available on %s; use auto, tcg or kvm (Linux)", h.GOOS)
		}
		c := accelChoice{Accel: AccelHVF, Reason: "accel hvf was requested"}
		if ok, reason := hvfUsable(h); !ok {
			c.Warning = "HVF checks failed (" + reason + "); the guest may not start"
		}
		return c, nil
	}
	return accelChoice{}, fmt.Errorf("accel %q is unknown; use auto, kvm, hvf or tcg", requested)
}

func chooseAuto(h hostProbe) accelChoice {
	switch h.GOOS {
	case "linux":
		ok, reason := kvmUsable(h)
		if ok {
			return accelChoice{Accel: AccelKVM, Reason: reason}
		}
		return accelChoice{Accel: AccelTCG, Reason: reason}
	case "darwin":
		ok, reason := hvfUsable(h)
		if ok {
			return accelChoice{Accel: AccelHVF, Reason: reason}
		}
		return accelChoice{Accel: AccelTCG, Reason: reason}
	}
	return accelChoice{Accel: AccelTCG, Reason: "no hardware Accel is supported on " + h.GOOS}
}

// kvmUsable reports whether KVM should work, with the reason either way.
func kvmUsable(h hostProbe) (bool, string) {
	if h.KVMErr != nil {
		return false, "/dev/kvm does not open read-write: " + h.KVMErr.Error()
	}
	if h.GOARCH != "amd64" && h.GOARCH != "386" {
		// Arm CPUs have no cpuinfo flag for virtualization; /dev/kvm
		// existing is the check.
		return true, "/dev/kvm opens read-write"
	}
	if h.CPUInfoErr != nil {
		return false, "cannot read /proc/cpuinfo: " + h.CPUInfoErr.Error()
	}
	if flag := virtualizationFlag(h.CPUInfo); flag != "" {
		return true, "/dev/kvm opens read-write and the CPU advertises " + flag
	}
	return false, "/dev/kvm opens read-write but the CPU advertises neither vmx nor svm in /proc/cpuinfo"
}

func hvfUsable(h hostProbe) (bool, string) {
	if h.HVFErr != nil {
		return false, "cannot read kern.hv_support: " + h.HVFErr.Error()
	}
	if !h.HVF {
		return false, "kern.hv_support is 0"
	}
	return true, "kern.hv_support is 1"
}

// virtualizationFlag returns "vmx" or "svm" when a flags line of cpuinfo
// lists it as a whole word, and "" otherwise.
func virtualizationFlag(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for _, f := range strings.Fields(value) {
			if f == "vmx" || f == "svm" {
				return f
			}
		}
	}
	return ""
}

// probeHost gathers the facts chooseAccel needs on this machine.
func probeHost() hostProbe {
	h := hostProbe{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	switch h.GOOS {
	case "linux":
		data, err := os.ReadFile("/proc/cpuinfo")
		h.CPUInfo, h.CPUInfoErr = string(data), err
		f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
		if err == nil {
			f.Close()
		}
		h.KVMErr = err
	case "darwin":
		h.HVF, h.HVFErr = hvfSupported()
	}
	return h
}
