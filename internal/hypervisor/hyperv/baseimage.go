package hyperv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// PrepareOptions describes a base image to make ready for Hyper-V.
type PrepareOptions struct {
	// Source is the image file.
	Source string
	// Format is the image format as qemu-img names it: vhdx, vpc (VHD),
	// qcow2 or raw. Empty means the format of Source's extension: .vhdx,
	// .vhd, .qcow2, or .img and .raw for raw.
	Format string
	// OutputDir receives the converted file of a qcow2 or raw image.
	// Empty means Source's directory.
	OutputDir string
	// QEMUImg is the qemu-img binary; empty means qemu-img from PATH.
	QEMUImg string
	// Run runs a command and returns its combined output; nil means
	// os/exec.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Logger receives the logs; nil means slog.Default().
	Logger *slog.Logger
}

// PreparedImage is a base image Hyper-V can use.
type PreparedImage struct {
	// Path is the image's full path, with 8.3 short names expanded.
	Path string
	// Format is "vhdx" or "vpc".
	Format string
	// Converted is true when Path is a new file converted from Source.
	Converted bool
}

// ErrQEMUImgMissing marks a qcow2 or raw image on a host without
// qemu-img.
var ErrQEMUImgMissing = errors.New("qemu-img is not on PATH")

// clearSparseFlag makes PrepareBaseImage clear the sparse flag of a
// converted image. Only Windows has the flag that Hyper-V trips on, and
// tests set it to check the command.
var clearSparseFlag = runtime.GOOS == "windows"

// PrepareBaseImage makes an image file usable as a Hyper-V base image, for
// the image import code to call on Windows. A VHDX or VHD image is used as
// it is. A qcow2 or raw image is converted with qemu-img convert -O vhdx -o
// subformat=dynamic into OutputDir, and on Windows its sparse flag is then
// cleared with fsutil sparse setflag FILE 0, because Hyper-V mishandles
// sparse VHDX files.
func PrepareBaseImage(ctx context.Context, opts PrepareOptions) (PreparedImage, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Run == nil {
		opts.Run = runCommand
	}
	src, err := fullPath(opts.Source)
	if err != nil {
		return PreparedImage{}, fmt.Errorf("prepare base image %q: expand the path: %w", opts.Source, err)
	}
	if _, err := os.Stat(src); err != nil {
		return PreparedImage{}, fmt.Errorf("prepare base image: %w", err)
	}
	format := opts.Format
	if format == "" {
		format, err = formatFromExtension(src)
		if err != nil {
			return PreparedImage{}, err
		}
	}
	switch format {
	case "vhdx", "vpc":
		return PreparedImage{Path: src, Format: format}, nil
	case "qcow2", "raw":
	default:
		return PreparedImage{}, fmt.Errorf("prepare base image %s: format %q is not vhdx, vpc, qcow2 or raw; convert it to VHDX first", src, format)
	}

	qemuImg := opts.QEMUImg
	if qemuImg == "" {
		qemuImg, err = exec.LookPath("qemu-img")
		if err != nil {
			return PreparedImage{}, fmt.Errorf("prepare base image %s: %w: a %s image must be converted to VHDX; install QEMU for Windows and add its directory to PATH, or convert the image elsewhere with qemu-img convert -O vhdx -o subformat=dynamic",
				src, ErrQEMUImgMissing, format)
		}
	}
	outDir := opts.OutputDir
	if outDir == "" {
		outDir = filepath.Dir(src)
	}
	outDir, err = fullPath(outDir)
	if err != nil {
		return PreparedImage{}, fmt.Errorf("prepare base image %s: expand the output directory: %w", src, err)
	}
	stem := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	dst := filepath.Join(outDir, stem+".vhdx")
	if _, err := os.Stat(dst); err == nil {
		return PreparedImage{}, fmt.Errorf("prepare base image %s: %s already exists; remove it or choose another output directory", src, dst)
	}
	partial := dst + ".partial"
	os.Remove(partial)

	opts.Logger.Info("converting base image to VHDX", "source", src, "format", format, "target", dst)
	if out, err := opts.Run(ctx, qemuImg, "convert", "-f", format, "-O", "vhdx", "-o", "subformat=dynamic", src, partial); err != nil {
		os.Remove(partial)
		return PreparedImage{}, fmt.Errorf("prepare base image %s: qemu-img convert failed: %w: %s", src, err, strings.TrimSpace(string(out)))
	}
	if err := checkVHDX(ctx, opts.Run, qemuImg, partial); err != nil {
		os.Remove(partial)
		return PreparedImage{}, fmt.Errorf("prepare base image %s: %w", src, err)
	}
	if clearSparseFlag {
		if out, err := opts.Run(ctx, "fsutil", "sparse", "setflag", partial, "0"); err != nil {
			os.Remove(partial)
			return PreparedImage{}, fmt.Errorf("prepare base image %s: clearing the sparse flag of %s failed: %w: %s; run fsutil sparse setflag on it as an administrator",
				src, partial, err, strings.TrimSpace(string(out)))
		}
	}
	if err := os.Rename(partial, dst); err != nil {
		os.Remove(partial)
		return PreparedImage{}, fmt.Errorf("prepare base image %s: %w", src, err)
	}
	return PreparedImage{Path: dst, Format: "vhdx", Converted: true}, nil
}

// checkVHDX reads the converted file back with qemu-img info.
func checkVHDX(ctx context.Context, run func(context.Context, string, ...string) ([]byte, error), qemuImg, path string) error {
	out, err := run(ctx, qemuImg, "info", "--output=json", path)
	if err != nil {
		return fmt.Errorf("qemu-img info on the converted file failed: %w: %s", err, strings.TrimSpace(string(out)))
	}
	var info struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return fmt.Errorf("decode qemu-img info of the converted file: %w", err)
	}
	if info.Format != "vhdx" {
		return fmt.Errorf("the converted file %s is %q, not vhdx", path, info.Format)
	}
	return nil
}

func formatFromExtension(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".vhdx":
		return "vhdx", nil
	case ".vhd":
		return "vpc", nil
	case ".qcow2":
		return "qcow2", nil
	case ".img", ".raw":
		return "raw", nil
	}
	return "", fmt.Errorf("prepare base image %s: the extension does not tell the format; set the format to vhdx, vpc, qcow2 or raw", path)
}

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
