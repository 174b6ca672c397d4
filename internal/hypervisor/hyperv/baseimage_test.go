package hyperv

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func qemuImg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Fatalf("qemu-img is not on PATH; scripts/test.sh installs qemu-utils: %v", err)
	}
	return path
}

func TestPrepareBaseImageConvertsQCOW2(t *testing.T) {
	bin := qemuImg(t)
	src := filepath.Join(t.TempDir(), "debian 12 ü.qcow2")
	if out, err := exec.Command(bin, "create", "-f", "qcow2", src, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	outDir := t.TempDir()

	// The sparse flag exists only on Windows; record the fsutil command
	// that the Windows build runs, and run everything else for real.
	clearSparseFlag = true
	defer func() { clearSparseFlag = false }()
	var commands [][]string
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		commands = append(commands, append([]string{name}, args...))
		if name == "fsutil" {
			return nil, nil
		}
		return runCommand(ctx, name, args...)
	}
	img, err := PrepareBaseImage(context.Background(), PrepareOptions{Source: src, OutputDir: outDir, Run: run, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("PrepareBaseImage: %v", err)
	}
	if !img.Converted || img.Format != "vhdx" || img.Path != filepath.Join(outDir, "debian 12 ü.vhdx") {
		t.Errorf("PrepareBaseImage = %+v, want a converted vhdx in the output directory", img)
	}
	out, err := exec.Command(bin, "info", "--output=json", img.Path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	json.Unmarshal(out, &info)
	if info.Format != "vhdx" || info.VirtualSize != 64<<20 {
		t.Errorf("converted image is %s of %d bytes, want vhdx of %d", info.Format, info.VirtualSize, 64<<20)
	}
	want := []string{
		bin + " convert -f qcow2 -O vhdx -o subformat=dynamic " + src + " " + img.Path + ".partial",
		bin + " info --output=json " + img.Path + ".partial",
		"fsutil sparse setflag " + img.Path + ".partial 0",
	}
	if len(commands) != len(want) {
		t.Fatalf("commands = %q, want %q", commands, want)
	}
	for i := range want {
		if got := strings.Join(commands[i], " "); got != want[i] {
			t.Errorf("command %d = %q, want %q", i, got, want[i])
		}
	}
	if _, err := os.Stat(img.Path + ".partial"); !os.IsNotExist(err) {
		t.Errorf("the partial file remains (stat err = %v)", err)
	}

	if _, err := PrepareBaseImage(context.Background(), PrepareOptions{Source: src, OutputDir: outDir, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second conversion to the same file: err = %v, want an already-exists error", err)
	}
}

func TestPrepareBaseImageKeepsVHDX(t *testing.T) {
	src := filepath.Join(t.TempDir(), "base.vhdx")
	os.WriteFile(src, []byte("x"), 0o644)
	img, err := PrepareBaseImage(context.Background(), PrepareOptions{Source: src, Logger: quietLogger(),
		Run: func(context.Context, string, ...string) ([]byte, error) {
			t.Error("a VHDX image ran a command")
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if img.Converted || img.Path != src || img.Format != "vhdx" {
		t.Errorf("PrepareBaseImage = %+v, want the same file", img)
	}
}

func TestPrepareBaseImageErrors(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	odd := filepath.Join(dir, "disk.bin")
	for _, f := range []string{raw, odd} {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	cases := []struct {
		name string
		opts PrepareOptions
		want string
		is   error
	}{
		{"missing file", PrepareOptions{Source: filepath.Join(dir, "none.qcow2")}, "no such file", nil},
		{"unknown extension", PrepareOptions{Source: odd}, "set the format", nil},
		{"unknown format", PrepareOptions{Source: odd, Format: "vmdk"}, `"vmdk"`, nil},
		{"no qemu-img", PrepareOptions{Source: raw, QEMUImg: ""}, "qemu-img", ErrQEMUImgMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quietLogger()
			if tc.is != nil {
				t.Setenv("PATH", t.TempDir())
			}
			_, err := PrepareBaseImage(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
		})
	}
}
