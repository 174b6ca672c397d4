// Package image keeps the base images that instances boot from. Each image is
// a directory <data_dir>/images/<name>/ with image.yml and a read-only copy of
// the disk (and, for direct kernel boot, the kernel and initrd). Instances
// get a copy-on-write overlay, so the base is never written.
package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
	"github.com/vmgenie/vmgenie/internal/instance"
)

// Errors that callers test with errors.Is.
var (
	ErrNotFound = errors.New("image not found")
	ErrConflict = errors.New("image already exists")
	ErrInvalid  = errors.New("invalid image")
)

// minRawSize is the smallest file accepted as a raw disk: 1 MiB, far below
// any bootable disk, so that a text file given by mistake is caught.
const minRawSize = 1 << 20

// Disk formats recognised by their header.
const (
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
	FormatVHDX  = "vhdx"
	FormatVHD   = "vpc" // qemu-img's name for VHD
)

// Image is the content of image.yml. Paths are relative to the image
// directory in the file and absolute once loaded.
type Image struct {
	Name       string    `yaml:"name" json:"name"`
	OS         string    `yaml:"os" json:"os"`
	Version    string    `yaml:"version" json:"version"`
	Format     string    `yaml:"format" json:"format"`
	Disk       string    `yaml:"disk" json:"disk"`
	Kernel     string    `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	Initrd     string    `yaml:"initrd,omitempty" json:"initrd,omitempty"`
	Cmdline    string    `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
	Firmware   string    `yaml:"firmware,omitempty" json:"firmware,omitempty"`
	SizeBytes  int64     `yaml:"size_bytes" json:"size_bytes"`
	Source     string    `yaml:"source" json:"source"`
	ImportedAt time.Time `yaml:"imported_at" json:"imported_at"`
}

// Store is the set of images under one data directory.
type Store struct {
	root string
}

// Open returns the image store under dataDir, creating <dataDir>/images.
func Open(dataDir string) (*Store, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory %q: %w", dataDir, err)
	}
	root := filepath.Join(abs, "images")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create image directory %s: %w", root, err)
	}
	return &Store{root: root}, nil
}

// ImportOptions describes an image to import.
type ImportOptions struct {
	Name    string
	File    string
	OS      string
	Version string
	// Kernel, Initrd and Cmdline select direct kernel boot; all three or
	// none.
	Kernel  string
	Initrd  string
	Cmdline string
	// Firmware is "bios" (the default) or "uefi".
	Firmware string
	// Convert, when set, turns the disk into a format the hypervisor can
	// use, such as VHDX for Hyper-V. It writes the new file into dir and
	// returns its path and format, or returns src and format unchanged to
	// keep the file as it is.
	Convert func(src, format, dir string) (path, newFormat string, err error)
}

// Import copies a disk image (and its kernel and initrd) into the store.
// Nothing is left behind when it fails.
func (s *Store) Import(opts ImportOptions) (*Image, error) {
	if err := instance.ValidateName(opts.Name); err != nil {
		return nil, fmt.Errorf("%w: invalid image name: %w", ErrInvalid, err)
	}
	if opts.OS == "" || opts.Version == "" {
		return nil, fmt.Errorf("%w: image %q: --os and --version are required, for example --os debian --version 12", ErrInvalid, opts.Name)
	}
	direct := opts.Kernel != "" || opts.Initrd != "" || opts.Cmdline != ""
	if direct && (opts.Kernel == "" || opts.Initrd == "" || opts.Cmdline == "") {
		return nil, fmt.Errorf("%w: image %q: direct kernel boot needs --kernel, --initrd and --cmdline together", ErrInvalid, opts.Name)
	}
	switch opts.Firmware {
	case "":
		opts.Firmware = "bios"
	case "bios", "uefi":
	default:
		return nil, fmt.Errorf("%w: image %q: invalid firmware %q: use bios or uefi", ErrInvalid, opts.Name, opts.Firmware)
	}
	format, err := DetectFormat(opts.File)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(s.root, opts.Name)
	if _, err := os.Stat(final); err == nil {
		return nil, fmt.Errorf("%w: %q; remove it with \"vmgenie image remove %s\" or choose another name", ErrConflict, opts.Name, opts.Name)
	}

	tmp, err := os.MkdirTemp(s.root, ".import-"+opts.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("create import directory in %s: %w", s.root, err)
	}
	defer os.RemoveAll(tmp) // after the rename below this is a no-op

	source := opts.File
	if opts.Convert != nil {
		if source, format, err = opts.Convert(opts.File, format, tmp); err != nil {
			return nil, fmt.Errorf("image %q: %w", opts.Name, err)
		}
	}
	img := &Image{
		Name: opts.Name, OS: opts.OS, Version: opts.Version, Format: format,
		Disk: "disk." + extension(format), Cmdline: opts.Cmdline, Firmware: opts.Firmware,
		Source: absOrSame(opts.File), ImportedAt: time.Now().UTC().Truncate(time.Second),
	}
	disk := filepath.Join(tmp, img.Disk)
	if source == opts.File {
		if img.SizeBytes, err = copySparse(source, disk); err != nil {
			return nil, err
		}
	} else {
		// The converted file is already in the import directory.
		if err := os.Rename(source, disk); err != nil {
			return nil, fmt.Errorf("image %q: move the converted disk: %w", opts.Name, err)
		}
		info, err := os.Stat(disk)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", opts.Name, err)
		}
		img.SizeBytes = info.Size()
		if err := os.Chmod(disk, 0o444); err != nil {
			return nil, fmt.Errorf("image %q: make the converted disk read-only: %w", opts.Name, err)
		}
	}
	if direct {
		img.Kernel, img.Initrd = "vmlinuz", "initrd.img"
		if _, err := copySparse(opts.Kernel, filepath.Join(tmp, img.Kernel)); err != nil {
			return nil, err
		}
		if _, err := copySparse(opts.Initrd, filepath.Join(tmp, img.Initrd)); err != nil {
			return nil, err
		}
	}
	data, err := yaml.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("encode image.yml for %q: %w", opts.Name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, "image.yml"), data, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %q was imported by another process at the same time", ErrConflict, opts.Name)
		}
		return nil, fmt.Errorf("move imported image into %s: %w", final, err)
	}
	return s.Get(opts.Name)
}

// Get loads one image, with absolute paths.
func (s *Store) Get(name string) (*Image, error) {
	if err := instance.ValidateName(name); err != nil {
		return nil, fmt.Errorf("invalid image name: %w", err)
	}
	dir := filepath.Join(s.root, name)
	data, err := os.ReadFile(filepath.Join(dir, "image.yml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q; import one with \"vmgenie image import %s FILE --os OS --version V\", and \"vmgenie image list\" shows what is there",
			ErrNotFound, name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read image %q: %w", name, err)
	}
	var img Image
	if err := yaml.Unmarshal(data, &img); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "image.yml"), err)
	}
	img.Disk = filepath.Join(dir, img.Disk)
	if img.Kernel != "" {
		img.Kernel = filepath.Join(dir, img.Kernel)
		img.Initrd = filepath.Join(dir, img.Initrd)
	}
	if _, err := os.Stat(img.Disk); err != nil {
		return nil, fmt.Errorf("image %q is damaged: its disk %s: %w; remove and import it again", name, img.Disk, err)
	}
	return &img, nil
}

// FindByOS returns the image for an OS and version: the one named
// "<os>-<version>" when it exists, otherwise the most recently imported
// image with that OS and version.
func (s *Store) FindByOS(osName, version string) (*Image, error) {
	if img, err := s.Get(osName + "-" + version); err == nil {
		return img, nil
	}
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	var best *Image
	for _, img := range list {
		if img.OS == osName && img.Version == version && (best == nil || img.ImportedAt.After(best.ImportedAt)) {
			best = img
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no base image for %s %s; import one with \"vmgenie image import %s-%s FILE --os %s --version %s\"",
			ErrNotFound, osName, version, osName, version, osName, version)
	}
	return best, nil
}

// List returns every image, sorted by name.
func (s *Store) List() ([]*Image, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list images in %s: %w", s.root, err)
	}
	var list []*Image
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		img, err := s.Get(e.Name())
		if err != nil {
			continue
		}
		list = append(list, img)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

// Remove deletes an image. Instances made from it stop working, so callers
// check for them first.
func (s *Store) Remove(name string) error {
	if _, err := s.Get(name); err != nil {
		return err
	}
	dir := filepath.Join(s.root, name)
	// The copies are read-only; make them writable so RemoveAll works on
	// Windows too.
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			_ = os.Chmod(path, 0o644)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove image %q: %w", name, err)
	}
	return nil
}

// DetectFormat reads a disk image's header and returns its qemu-img format
// name. Files without a known header are raw.
func DetectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open disk image: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("inspect disk image %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%w: disk image %s is not a regular file", ErrInvalid, path)
	}
	if info.Size() == 0 {
		return "", fmt.Errorf("%w: disk image %s is empty", ErrInvalid, path)
	}
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return FormatQCOW2, nil
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return FormatVHDX, nil
	}
	// A VHD has its 512-byte footer, starting with "conectix", at the end.
	if info.Size() >= 512 {
		footer := make([]byte, 8)
		if _, err := f.ReadAt(footer, info.Size()-512); err == nil && string(footer) == "conectix" {
			return FormatVHD, nil
		}
	}
	if info.Size() < minRawSize || info.Size()%512 != 0 {
		return "", fmt.Errorf("%w: %s is %d bytes and has no qcow2, VHDX or VHD header, so it is not a disk image: a raw disk is at least 1 MiB and a multiple of 512 bytes",
			ErrInvalid, path, info.Size())
	}
	return FormatRaw, nil
}

func extension(format string) string {
	switch format {
	case FormatQCOW2:
		return "qcow2"
	case FormatVHDX:
		return "vhdx"
	case FormatVHD:
		return "vhd"
	}
	return "raw"
}

func absOrSame(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
