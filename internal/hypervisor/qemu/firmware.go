package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
)

// uefiFirmware is a UEFI firmware image and the template of its variable
// store, which each VM gets its own copy of.
type uefiFirmware struct {
	Code string
	Vars string
}

// firmwareDescriptor is the part of a QEMU firmware descriptor
// (docs/interop/firmware.json in QEMU, installed by distributions under
// share/qemu/firmware) that the driver reads.
type firmwareDescriptor struct {
	InterfaceTypes []string `json:"interface-types"`
	Mapping        struct {
		Device     string `json:"device"`
		Executable struct {
			Filename string `json:"filename"`
			Format   string `json:"format"`
		} `json:"executable"`
		NVRAMTemplate struct {
			Filename string `json:"filename"`
			Format   string `json:"format"`
		} `json:"nvram-template"`
	} `json:"mapping"`
	Targets []struct {
		Architecture string   `json:"architecture"`
		Machines     []string `json:"machines"`
	} `json:"targets"`
	Features []string `json:"features"`
}

// firmwareDescriptorDirs lists where QEMU and distributions install firmware
// descriptors, in increasing priority: a file in a later directory replaces a
// file of the same name in an earlier one, as the descriptor specification requires.
func firmwareDescriptorDirs(qemuBinary string) []string {
	dirs := []string{
		"/usr/share/qemu/firmware",
		"/usr/local/share/qemu/firmware",
		"/opt/homebrew/share/qemu/firmware",
	}
	// An installation prefix next to the binary, such as Homebrew's
	// <prefix>/bin/qemu-system-x86_64 with <prefix>/share/qemu/firmware.
	if bin, err := filepath.EvalSymlinks(qemuBinary); err == nil && filepath.IsAbs(bin) {
		dirs = append(dirs, filepath.Join(filepath.Dir(filepath.Dir(bin)), "share", "qemu", "firmware"))
	}
	return append(dirs, "/etc/qemu/firmware")
}

// knownUEFIPaths are firmware locations tried when no descriptor matches,
// for installations without descriptors.
var knownUEFIPaths = map[string][]uefiFirmware{
	"x86_64": {
		{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"}, // Debian 12, Ubuntu 22.04+
		{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},       // older Debian and Ubuntu
		{"/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},
		{"/usr/share/qemu/edk2-x86_64-code.fd", "/usr/share/qemu/edk2-i386-vars.fd"},
	},
	"aarch64": {
		{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
		{"/usr/share/qemu/edk2-aarch64-code.fd", "/usr/share/qemu/edk2-arm-vars.fd"},
		{"/opt/homebrew/share/qemu/edk2-aarch64-code.fd", "/opt/homebrew/share/qemu/edk2-arm-vars.fd"},
	},
}

// featuresWeCannotUse are descriptor features that need machine options the
// driver does not set (SMM, Secure Boot with enrolled keys, SEV-ES).
var featuresWeCannotUse = []string{"requires-smm", "secure-boot", "enrolled-keys", "amd-sev-es", "amd-sev-snp", "intel-tdx"}

// findUEFI returns plain (no Secure Boot) UEFI firmware for p, from the
// first matching descriptor in dirs or else from knownUEFIPaths.
func findUEFI(dirs []string, p platform) (uefiFirmware, error) {
	for _, file := range descriptorFiles(dirs) {
		fw, ok := matchDescriptor(file, p)
		if ok && exists(fw.Code) && exists(fw.Vars) {
			return fw, nil
		}
	}
	for _, fw := range knownUEFIPaths[p.arch] {
		if exists(fw.Code) && exists(fw.Vars) {
			return fw, nil
		}
	}
	return uefiFirmware{}, fmt.Errorf("no UEFI firmware for %s found in %v or the usual OVMF paths; install the ovmf package (Debian, Ubuntu) or edk2-ovmf (Fedora), or set the firmware paths in the driver configuration", p.arch, dirs)
}

// descriptorFiles returns the descriptor files of dirs sorted by file
// name, a later directory's file replacing a same-named earlier one.
func descriptorFiles(dirs []string) []string {
	byName := map[string]string{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if filepath.Ext(e.Name()) == ".json" {
				byName[e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	files := make([]string, len(names))
	for i, name := range names {
		files[i] = byName[name]
	}
	return files
}

// matchDescriptor reads one descriptor and reports whether it is UEFI
// flash firmware with a variable store for p's architecture and machine.
func matchDescriptor(file string, p platform) (uefiFirmware, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return uefiFirmware{}, false
	}
	var d firmwareDescriptor
	if err := json.Unmarshal(data, &d); err != nil {
		return uefiFirmware{}, false
	}
	if !slices.Contains(d.InterfaceTypes, "uefi") || d.Mapping.Device != "flash" {
		return uefiFirmware{}, false
	}
	if d.Mapping.Executable.Format != "raw" || d.Mapping.NVRAMTemplate.Filename == "" || d.Mapping.NVRAMTemplate.Format != "raw" {
		return uefiFirmware{}, false
	}
	for _, f := range d.Features {
		if slices.Contains(featuresWeCannotUse, f) {
			return uefiFirmware{}, false
		}
	}
	if !targetsMachine(d, p) {
		return uefiFirmware{}, false
	}
	return uefiFirmware{Code: d.Mapping.Executable.Filename, Vars: d.Mapping.NVRAMTemplate.Filename}, true
}

func targetsMachine(d firmwareDescriptor, p platform) bool {
	// Descriptors list versioned machine names as globs (pc-q35-*); any
	// version of the family matches the unversioned alias the driver uses.
	sample := p.machineFamily + "-0.0"
	for _, t := range d.Targets {
		if t.Architecture != p.arch {
			continue
		}
		for _, pattern := range t.Machines {
			if ok, _ := path.Match(pattern, sample); ok {
				return true
			}
		}
	}
	return false
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}
