package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	vhd := make([]byte, 1024)
	copy(vhd[512:], "conectix")
	cases := map[string]struct {
		data []byte
		want string
	}{
		"qcow2": {append([]byte("QFI\xfb"), make([]byte, 100)...), FormatQCOW2},
		"vhdx":  {append([]byte("vhdxfile"), make([]byte, 100)...), FormatVHDX},
		"vhd":   {vhd, FormatVHD},
		"raw":   {bytes.Repeat([]byte{1}, 1<<20), FormatRaw},
	}
	for name, tc := range cases {
		got, err := DetectFormat(writeFile(t, dir, name, tc.data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: format = %q, want %q", name, got, tc.want)
		}
	}
}

func TestDetectFormatRejectsEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{"text": []byte("#cloud-config\n"), "odd size": make([]byte, 1<<20+1)} {
		_, err := DetectFormat(writeFile(t, dir, "f", data))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a disk image") {
			t.Errorf("%s: err = %v, want ErrInvalid saying it is not a disk image", name, err)
		}
	}
	if _, err := DetectFormat(writeFile(t, dir, "empty", nil)); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: err = %v, want an error saying it is empty", err)
	}
	if _, err := DetectFormat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	if _, err := DetectFormat(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: err = %v, want an error saying it is not a regular file", err)
	}
}

func TestImportCopiesSparseAndReadOnly(t *testing.T) {
	src := t.TempDir()
	disk := make([]byte, 4<<20)
	copy(disk[1<<20:], "data in the middle")
	diskPath := writeFile(t, src, "disk.raw", disk)
	kernel := writeFile(t, src, "vmlinuz", []byte("kernel"))
	initrd := writeFile(t, src, "initrd.img", []byte("initrd"))

	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Import(ImportOptions{
		Name: "debian-12", File: diskPath, OS: "debian", Version: "12",
		Kernel: kernel, Initrd: initrd, Cmdline: "root=LABEL=rootfs console=ttyS0",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(img.Disk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, disk) {
		t.Error("imported disk differs from the source")
	}
	if img.SizeBytes != int64(len(disk)) {
		t.Errorf("SizeBytes = %d, want %d", img.SizeBytes, len(disk))
	}
	info, err := os.Stat(img.Disk)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o222 != 0 {
		t.Errorf("imported disk mode = %v, want read-only", info.Mode().Perm())
	}
	if used, ok := allocatedBytes(info); ok && used >= int64(len(disk)) {
		t.Errorf("imported disk uses %d bytes on disk, want a sparse copy of the %d-byte file", used, len(disk))
	}
	if k, _ := os.ReadFile(img.Kernel); string(k) != "kernel" {
		t.Errorf("kernel copy = %q", k)
	}
	if img.Cmdline != "root=LABEL=rootfs console=ttyS0" || img.Firmware != "bios" {
		t.Errorf("image = %+v, want the cmdline kept and bios firmware", img)
	}
}

func TestImportErrorsLeaveNothing(t *testing.T) {
	src := t.TempDir()
	diskPath := writeFile(t, src, "disk.raw", make([]byte, 1<<20))
	dataDir := t.TempDir()
	s, err := Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts ImportOptions
		want string
	}{
		{"bad name", ImportOptions{Name: "Bad Name", File: diskPath, OS: "debian", Version: "12"}, "invalid image name"},
		{"no os", ImportOptions{Name: "a", File: diskPath, Version: "12"}, "--os and --version are required"},
		{"half kernel", ImportOptions{Name: "a", File: diskPath, OS: "debian", Version: "12", Kernel: diskPath}, "--kernel, --initrd and --cmdline together"},
		{"bad firmware", ImportOptions{Name: "a", File: diskPath, OS: "debian", Version: "12", Firmware: "efi"}, "use bios or uefi"},
		{"missing file", ImportOptions{Name: "a", File: filepath.Join(src, "nope"), OS: "debian", Version: "12"}, "no such file"},
		{"missing kernel", ImportOptions{Name: "a", File: diskPath, OS: "debian", Version: "12",
			Kernel: filepath.Join(src, "nope"), Initrd: diskPath, Cmdline: "x"}, "no such file"},
	}
	for _, tc := range cases {
		_, err := s.Import(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("images directory has %d entries after failed imports, want 0", len(entries))
	}
}

func TestImportTwiceIsConflict(t *testing.T) {
	diskPath := writeFile(t, t.TempDir(), "disk.raw", make([]byte, 1<<20))
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := ImportOptions{Name: "base", File: diskPath, OS: "debian", Version: "12"}
	if _, err := s.Import(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(opts); !errors.Is(err, ErrConflict) {
		t.Errorf("second import: err = %v, want ErrConflict", err)
	}
}

func TestFindByOSAndRemove(t *testing.T) {
	diskPath := writeFile(t, t.TempDir(), "disk.raw", make([]byte, 1<<20))
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ImportOptions{Name: "mine", File: diskPath, OS: "debian", Version: "12"}); err != nil {
		t.Fatal(err)
	}
	img, err := s.FindByOS("debian", "12")
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "mine" {
		t.Errorf("FindByOS = %q, want mine", img.Name)
	}
	_, err = s.FindByOS("ubuntu", "24.04")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "vmgenie image import ubuntu-24.04") {
		t.Errorf("FindByOS(ubuntu 24.04) = %v, want ErrNotFound with the import command", err)
	}
	if err := s.Remove("mine"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("mine"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove = %v, want ErrNotFound", err)
	}
}

func TestImportConvertMovesConvertedDisk(t *testing.T) {
	diskPath := writeFile(t, t.TempDir(), "disk.qcow2", append([]byte("QFI\xfb"), make([]byte, 100)...))
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var gotFormat string
	convert := func(src, format, dir string) (string, string, error) {
		gotFormat = format
		out := filepath.Join(dir, "converted.vhdx")
		return out, FormatVHDX, os.WriteFile(out, []byte("vhdxfile-converted"), 0o644)
	}
	img, err := s.Import(ImportOptions{Name: "conv", File: diskPath, OS: "debian", Version: "12", Convert: convert})
	if err != nil {
		t.Fatal(err)
	}
	if gotFormat != FormatQCOW2 {
		t.Errorf("Convert got format %q, want qcow2", gotFormat)
	}
	if img.Format != FormatVHDX || filepath.Base(img.Disk) != "disk.vhdx" {
		t.Errorf("image = %+v, want a vhdx disk named disk.vhdx", img)
	}
	if data, _ := os.ReadFile(img.Disk); string(data) != "vhdxfile-converted" {
		t.Errorf("disk content = %q, want the converted file", data)
	}
	if img.SizeBytes != int64(len("vhdxfile-converted")) {
		t.Errorf("SizeBytes = %d", img.SizeBytes)
	}
}

func TestImportConvertFailureLeavesNothing(t *testing.T) {
	diskPath := writeFile(t, t.TempDir(), "disk.raw", make([]byte, 1<<20))
	dataDir := t.TempDir()
	s, err := Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	convert := func(src, format, dir string) (string, string, error) {
		_ = os.WriteFile(filepath.Join(dir, "half.vhdx"), []byte("x"), 0o644)
		return "", "", errors.New("qemu-img convert failed")
	}
	_, err = s.Import(ImportOptions{Name: "conv", File: diskPath, OS: "debian", Version: "12", Convert: convert})
	if err == nil || !strings.Contains(err.Error(), "qemu-img convert failed") {
		t.Fatalf("err = %v, want the convert error", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dataDir, "images"))
	if len(entries) != 0 {
		t.Errorf("images directory has %d entries after a failed convert, want 0", len(entries))
	}
}
