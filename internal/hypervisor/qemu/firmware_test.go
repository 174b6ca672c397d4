package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// descriptor returns a firmware descriptor for code and vars with the given
// features and machine patterns.
func descriptor(code, vars, arch string, machines, features []string) string {
	quote := func(ss []string) string {
		if len(ss) == 0 {
			return ""
		}
		return `"` + strings.Join(ss, `", "`) + `"`
	}
	return `{
  "interface-types": ["uefi"],
  "mapping": {
    "device": "flash",
    "executable": {"filename": "` + code + `", "format": "raw"},
    "nvram-template": {"filename": "` + vars + `", "format": "raw"}
  },
  "targets": [{"architecture": "` + arch + `", "machines": [` + quote(machines) + `]}],
  "features": [` + quote(features) + `]
}`
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindUEFIFromDescriptors(t *testing.T) {
	root := t.TempDir()
	fw := func(name string) string {
		p := filepath.Join(root, "fw", name)
		writeFile(t, p, "firmware")
		return p
	}
	secureCode, plainCode, armCode := fw("secure_code.fd"), fw("plain_code.fd"), fw("arm_code.fd")
	vars := fw("vars.fd")
	share := filepath.Join(root, "share")
	etc := filepath.Join(root, "etc")

	// Sorted by name, the secure build comes first and must be skipped.
	writeFile(t, filepath.Join(share, "40-secure.json"), descriptor(secureCode, vars, "x86_64", []string{"pc-q35-*"}, []string{"requires-smm", "secure-boot"}))
	writeFile(t, filepath.Join(share, "50-arm.json"), descriptor(armCode, vars, "aarch64", []string{"virt-*"}, nil))
	writeFile(t, filepath.Join(share, "55-i440fx-only.json"), descriptor(secureCode, vars, "x86_64", []string{"pc-i440fx-*"}, nil))
	writeFile(t, filepath.Join(share, "60-plain.json"), descriptor(plainCode, vars, "x86_64", []string{"pc-i440fx-*", "pc-q35-*"}, []string{"acpi-s3"}))
	writeFile(t, filepath.Join(share, "70-broken.json"), "{not json")

	got, err := findUEFI([]string{share, etc}, platformAMD64)
	if err != nil {
		t.Fatalf("findUEFI: %v", err)
	}
	if got.Code != plainCode || got.Vars != vars {
		t.Errorf("findUEFI(x86_64) = %+v, want code %s", got, plainCode)
	}

	got, err = findUEFI([]string{share, etc}, platformARM64)
	if err != nil {
		t.Fatalf("findUEFI(aarch64): %v", err)
	}
	if got.Code != armCode {
		t.Errorf("findUEFI(aarch64) = %+v, want code %s", got, armCode)
	}

	// A file in a later directory replaces the same-named file: here it
	// points at firmware that does not exist, so no x86_64 firmware is left
	// among the descriptors.
	writeFile(t, filepath.Join(etc, "60-plain.json"), descriptor(filepath.Join(root, "missing.fd"), vars, "x86_64", []string{"pc-q35-*"}, nil))
	files := descriptorFiles([]string{share, etc})
	if !containsString(files, filepath.Join(etc, "60-plain.json")) || containsString(files, filepath.Join(share, "60-plain.json")) {
		t.Errorf("descriptorFiles = %q, want etc's 60-plain.json to replace share's", files)
	}
	for _, f := range files {
		if fw, ok := matchDescriptor(f, platformAMD64); ok && exists(fw.Code) {
			t.Errorf("descriptor %s still yields usable x86_64 firmware %s", f, fw.Code)
		}
	}
}

func TestFindUEFIMissing(t *testing.T) {
	p := platform{arch: "riscv64", machineFamily: "virt"}
	_, err := findUEFI([]string{t.TempDir()}, p)
	if err == nil {
		t.Fatal("findUEFI without firmware succeeded")
	}
	if !strings.Contains(err.Error(), "install the ovmf package") {
		t.Errorf("error %q does not say what to install", err)
	}
}

// TestFindUEFIOnHost checks the real lookup where the ovmf package is
// installed, as scripts/test.sh does.
func TestFindUEFIOnHost(t *testing.T) {
	if _, err := os.Stat("/usr/share/qemu/firmware/60-edk2-x86_64.json"); err != nil {
		t.Skipf("Debian's ovmf descriptors are not installed: %v", err)
	}
	got, err := findUEFI(firmwareDescriptorDirs("/usr/bin/qemu-system-x86_64"), platformAMD64)
	if err != nil {
		t.Fatal(err)
	}
	if got.Code != "/usr/share/OVMF/OVMF_CODE_4M.fd" || got.Vars != "/usr/share/OVMF/OVMF_VARS_4M.fd" {
		t.Errorf("findUEFI = %+v, want Debian's OVMF_CODE_4M.fd without Secure Boot", got)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
