package seed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool skips the test when an external tool is missing, except in CI,
// where scripts/test.sh installs it, so a missing tool fails.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing; scripts/test.sh installs it", name)
	}
	t.Skipf("skipping: %s is not installed; scripts/test.sh installs it", name)
	return ""
}

// TestImageReadBack writes a seed image and reads every file back with
// isoinfo (Rock Ridge names) and the label with blkid.
func TestImageReadBack(t *testing.T) {
	needTool(t, "isoinfo")
	needTool(t, "blkid")
	for _, volumeID := range []string{VolumeIDLower, VolumeIDUpper} {
		t.Run(volumeID, func(t *testing.T) {
			seed, err := Build(Spec{
				Template:      &Source{Name: "template", Data: []byte("#cloud-config\npackages: [curl]\n")},
				UserData:      []Source{{Name: "s.sh", Data: []byte("#!/bin/sh\necho hi\n")}},
				Hostname:      "web-1",
				NetworkConfig: &Source{Name: "nc", Data: []byte("version: 2\nethernets: {}\n")},
				VendorData:    &Source{Name: "vd", Data: []byte("#cloud-config\ntimezone: UTC\n")},
				Files:         []ExtraFile{{Path: "scripts/extra.txt", Origin: "x", Data: []byte("extra\n")}},
				VolumeID:      volumeID,
				ModTime:       fixedTime,
			})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "seed.iso")
			if err := seed.WriteFile(path, 0o644); err != nil {
				t.Fatal(err)
			}

			out, err := exec.Command("blkid", "-o", "value", "-s", "LABEL", path).Output()
			if err != nil {
				t.Fatalf("blkid: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != volumeID {
				t.Errorf("blkid LABEL = %q, want %q", got, volumeID)
			}
			out, err = exec.Command("blkid", "-o", "value", "-s", "TYPE", path).Output()
			if err != nil {
				t.Fatalf("blkid: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != "iso9660" {
				t.Errorf("blkid TYPE = %q, want iso9660", got)
			}

			for _, f := range seed.Files {
				got, err := exec.Command("isoinfo", "-R", "-i", path, "-x", "/"+f.Path).Output()
				if err != nil {
					t.Fatalf("isoinfo -x /%s: %v", f.Path, err)
				}
				if string(got) != string(f.Data) {
					t.Errorf("%s on the image = %q, want %q", f.Path, got, f.Data)
				}
			}
		})
	}
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seed.iso")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A path component longer than Joliet allows makes the ISO writer fail
	// after WriteFile has created its temporary file.
	seed, err := Build(Spec{InstanceID: "iid-1", Files: []ExtraFile{{Path: strings.Repeat("n", 300), Data: []byte("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.WriteFile(path, 0o644); err == nil {
		t.Fatal("WriteFile succeeded with a file name the ISO writer rejects")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "seed.iso" {
		t.Errorf("directory holds %v, want only seed.iso", entries)
	}
	if data, _ := os.ReadFile(path); string(data) != "old" {
		t.Errorf("seed.iso = %q after a failed write, want the old content", data)
	}
}

func TestWriteFileMode(t *testing.T) {
	seed, err := Build(Spec{InstanceID: "iid-1", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "seed.iso")
	if err := seed.WriteFile(path, 0o640); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", info.Mode().Perm())
	}
}

func TestImageIsReproducible(t *testing.T) {
	spec := Spec{
		Template:   &Source{Name: "t", Data: []byte("#cloud-config\na: 1\n")},
		InstanceID: "iid-1",
		Hostname:   "h",
		ModTime:    fixedTime,
	}
	first, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	a, err := first.Image()
	if err != nil {
		t.Fatal(err)
	}
	b, err := second.Image()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("two builds of the same spec differ")
	}
}

// BenchmarkBuildSmall builds a seed image in process from a small template
// and a user script, as "vmgenie seed create" does for one VM.
func BenchmarkBuildSmall(b *testing.B) {
	spec := Spec{
		Template: &Source{Name: "template", Data: []byte("#cloud-config\nhostname: web\npackages: [curl, htop]\nusers:\n  - default\n  - name: admin\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@example]\nruncmd:\n  - [systemctl, enable, --now, ssh]\n")},
		UserData: []Source{{Name: "setup.sh", Data: []byte("#!/bin/sh\necho ready > /run/ready\n")}},
		Hostname: "web-1",
		ModTime:  fixedTime,
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		seed, err := Build(spec)
		if err != nil {
			b.Fatal(err)
		}
		image, err := seed.Image()
		if err != nil {
			b.Fatal(err)
		}
		size = len(image)
	}
	b.ReportMetric(float64(size), "image-bytes")
}
