package testimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validMetadata = `{
  "os": "debian",
  "version": "12",
  "disk": "disk.raw",
  "format": "raw",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "root=LABEL=rootfs console=ttyS0",
  "kernel_version": "6.1.0-57-cloud-amd64",
  "script_sha256": "ce52bdea629a1723",
  "built_at": "2026-12-04T20:33:35Z"
}`

func TestParseMetadataValid(t *testing.T) {
	image, err := ParseMetadata("/images/debian", []byte(validMetadata))
	if err != nil {
		t.Fatalf("ParseMetadata: %v", err)
	}

	checks := []struct{ field, got, want string }{
		{"Dir", image.Dir, "/images/debian"},
		{"Disk", image.Disk, "/images/debian/disk.raw"},
		{"Kernel", image.Kernel, "/images/debian/vmlinuz"},
		{"Initrd", image.Initrd, "/images/debian/initrd.img"},
		{"Cmdline", image.Cmdline, "root=LABEL=rootfs console=ttyS0"},
		{"Format", image.Format, "raw"},
		{"OS", image.OS, "debian"},
		{"Version", image.Version, "12"},
		{"KernelVersion", image.KernelVersion, "6.1.0-57-cloud-amd64"},
		{"ScriptSHA256", image.ScriptSHA256, "ce52bdea629a1723"},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %q, want %q", check.field, check.got, check.want)
		}
	}
}

func TestParseMetadataInvalid(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string
		data    string
		wantErr string
	}{
		{name: "missing disk", replace: [2]string{`"disk": "disk.raw",`, ``}, wantErr: `missing "disk"`},
		{name: "empty cmdline", replace: [2]string{`"root=LABEL=rootfs console=ttyS0"`, `""`}, wantErr: `missing "cmdline"`},
		{name: "unknown format", replace: [2]string{`"format": "raw"`, `"format": "vmdk"`}, wantErr: `format "vmdk"`},
		{name: "disk outside dir", replace: [2]string{`"disk.raw"`, `"../other/disk.raw"`}, wantErr: `disk "../other/disk.raw"`},
		{name: "absolute kernel", replace: [2]string{`"vmlinuz"`, `"/boot/vmlinuz"`}, wantErr: `kernel "/boot/vmlinuz"`},
		{name: "unknown field", replace: [2]string{`"os":`, `"arch": "amd64", "os":`}, wantErr: `unknown field "arch"`},
		{name: "trailing data", data: validMetadata + "{}", wantErr: "data after the JSON object"},
		{name: "not JSON", data: "os=debian", wantErr: "invalid image metadata"},
		{name: "empty", data: "", wantErr: "invalid image metadata"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			data := test.data
			if test.replace[0] != "" {
				if !strings.Contains(validMetadata, test.replace[0]) {
					t.Fatalf("test case replaces %q, which validMetadata does not contain", test.replace[0])
				}
				data = strings.Replace(validMetadata, test.replace[0], test.replace[1], 1)
			}

			_, err := ParseMetadata("/images/debian", []byte(data))
			if err == nil {
				t.Fatalf("ParseMetadata succeeded, want error containing %q", test.wantErr)
			}
			if !strings.Contains(err.Error(), test.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, test.wantErr)
			}
		})
	}
}

func TestReadImageMissingFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MetadataFile), []byte(validMetadata), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"disk.raw", "vmlinuz"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	_, err := ReadImage(dir)
	if err == nil {
		t.Fatal("ReadImage succeeded without initrd.img")
	}
	if !strings.Contains(err.Error(), "initrd.img") {
		t.Errorf("error = %q, want it to name initrd.img", err)
	}
	if !strings.Contains(err.Error(), "--force") {
		t.Errorf("error = %q, want it to say how to rebuild", err)
	}
}

func TestReadImageNoMetadata(t *testing.T) {
	_, err := ReadImage(t.TempDir())
	if err == nil {
		t.Fatal("ReadImage succeeded in an empty directory")
	}
	if !strings.Contains(err.Error(), MetadataFile) {
		t.Errorf("error = %q, want it to name %s", err, MetadataFile)
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(validMetadata))
	f.Add([]byte(`{"disk": "../x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		image, err := ParseMetadata("/images/debian", data)
		if err != nil {
			return
		}
		// An accepted image names only files inside its directory.
		for _, path := range []string{image.Disk, image.Kernel, image.Initrd} {
			rel, err := filepath.Rel("/images/debian", path)
			if err != nil || !filepath.IsLocal(rel) {
				t.Errorf("accepted path %q outside the image directory", path)
			}
		}
		if image.Cmdline == "" {
			t.Error("accepted metadata without a kernel command line")
		}
	})
}
