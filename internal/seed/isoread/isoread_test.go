package isoread

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/iso9660"
)

var seedFiles = []iso9660.File{
	{Path: "user-data", Data: []byte("#cloud-config\n")},
	{Path: "meta-data", Data: []byte("instance-id: iid-1\n")},
	{Path: "network-config", Data: []byte("version: 2\n")},
	{Path: "scripts/a-very-long-file-name-for-rock-ridge.sh", Data: bytes.Repeat([]byte("x"), 5000)},
}

func writeImage(t testing.TB, files []iso9660.File, volumeID string) []byte {
	t.Helper()
	var buf bytes.Buffer
	opts := iso9660.Options{VolumeID: volumeID, ModTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := iso9660.Write(&buf, files, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadOwnImage(t *testing.T) {
	data := writeImage(t, seedFiles, "cidata")
	img, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if img.VolumeID != "cidata" {
		t.Errorf("VolumeID = %q, want cidata", img.VolumeID)
	}
	if img.Names != "rock-ridge" {
		t.Errorf("Names = %q, want rock-ridge", img.Names)
	}
	if len(img.Files) != len(seedFiles) {
		t.Fatalf("got %d files, want %d: %+v", len(img.Files), len(seedFiles), img.Files)
	}
	for _, want := range seedFiles {
		got, err := img.ReadFile(want.Path)
		if err != nil {
			t.Errorf("ReadFile(%s): %v", want.Path, err)
			continue
		}
		if !bytes.Equal(got, want.Data) {
			t.Errorf("%s = %q, want %q", want.Path, got, want.Data)
		}
	}
	if _, err := img.ReadFile("missing"); !errors.Is(err, errNotFound) {
		t.Errorf("ReadFile(missing) = %v, want not found", err)
	}
}

// TestReadGenisoimage reads an image that genisoimage writes the way
// cloud-localds calls it (Rock Ridge and Joliet).
func TestReadGenisoimage(t *testing.T) {
	tool, err := exec.LookPath("genisoimage")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("genisoimage is missing; scripts/test.sh installs it")
		}
		t.Skip("skipping: genisoimage is not installed; scripts/test.sh installs it")
	}
	dir := t.TempDir()
	var args []string
	for _, f := range seedFiles[:3] {
		p := filepath.Join(dir, f.Path)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out := filepath.Join(dir, "seed.iso")
	cmd := exec.Command(tool, append([]string{"-quiet", "-output", out, "-volid", "cidata", "-joliet", "-rock"}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range img.Files {
		names = append(names, f.Path)
	}
	if got, want := strings.Join(names, ","), "meta-data,network-config,user-data"; got != want {
		t.Errorf("files = %s, want %s", got, want)
	}
	if img.VolumeID != "cidata" {
		t.Errorf("VolumeID = %q, want cidata", img.VolumeID)
	}
	got, err := img.ReadFile("user-data")
	if err != nil || string(got) != "#cloud-config\n" {
		t.Errorf("user-data = %q, %v", got, err)
	}
}

func TestReadRejectsNonISO(t *testing.T) {
	for _, data := range [][]byte{nil, make([]byte, 100), make([]byte, 40*2048)} {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotISO) {
			t.Errorf("Read(%d zero bytes) = %v, want ErrNotISO", len(data), err)
		}
	}
}

// FuzzRead checks that damaged images give an error, not a panic or a hang.
func FuzzRead(f *testing.F) {
	f.Add(writeImage(f, seedFiles[:2], "cidata"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, file := range img.Files {
			_, _ = img.ReadFile(file.Path)
		}
	})
}
