// Package testimage provides the Debian 12 guest image that tests boot
// with QEMU. scripts/build-test-image.sh builds it from Debian packages and
// caches it outside the repository, keyed by the script's hash. This
// package runs that script and loads the image's metadata.
//
// The image is built locally, not downloaded, because test machines reach
// only a Debian mirror. The script is the single place that defines the
// image, so its hash identifies the image and reruns reuse it.
package testimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ScriptPath is the build script's path relative to the repository root.
const ScriptPath = "scripts/build-test-image.sh"

// MetadataFile is the name of the metadata file in an image directory.
const MetadataFile = "image.json"

// buildTimeout bounds one run of the build script, including up to 30
// minutes that the script waits for another process's build to finish.
const buildTimeout = 45 * time.Minute

// Image is a built test image. Paths are absolute.
type Image struct {
	Dir    string
	Disk   string
	Kernel string
	Initrd string
	// Cmdline is the kernel command line for direct kernel boot.
	Cmdline string
	// Format is the disk's QEMU format name, such as "raw" or "qcow2".
	Format string

	OS            string
	Version       string
	KernelVersion string
	ScriptSHA256  string
}

// metadata is the JSON form of image.json, written by the build script.
// Its paths are relative to the image directory.
type metadata struct {
	OS            string `json:"os"`
	Version       string `json:"version"`
	Disk          string `json:"disk"`
	Format        string `json:"format"`
	Kernel        string `json:"kernel"`
	Initrd        string `json:"initrd"`
	Cmdline       string `json:"cmdline"`
	KernelVersion string `json:"kernel_version"`
	ScriptSHA256  string `json:"script_sha256"`
	BuiltAt       string `json:"built_at"`
}

var (
	buildMu  sync.Mutex
	builtDir string
)

// Dir returns the test image's directory. It runs the build script, which
// returns at once when the image is cached and builds it otherwise, and
// fails the test with the script's output when that fails. The script
// serialises builds across processes with flock on a lock file; within
// one process, Dir runs the script only once.
func Dir(t testing.TB) string {
	t.Helper()

	buildMu.Lock()
	defer buildMu.Unlock()
	if builtDir != "" {
		return builtDir
	}

	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("test image: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()

	start := time.Now()
	dir, output, err := Build(ctx, filepath.Join(root, ScriptPath))
	if err != nil {
		t.Fatalf("test image: %v\nscript output:\n%s", err, output)
	}
	if !strings.Contains(output, "using cached image") {
		t.Logf("test image: built %s in %s\n%s", dir, time.Since(start).Round(time.Second), buildSummary(output))
	}
	builtDir = dir
	return dir
}

// Load returns the test image, building it if needed as Dir does.
func Load(t testing.TB) *Image {
	t.Helper()

	image, err := ReadImage(Dir(t))
	if err != nil {
		t.Fatalf("test image: %v", err)
	}
	return image
}

// Build runs the build script with bash and returns the image directory,
// which the script prints as its last line of stdout, and the script's
// combined output.
func Build(ctx context.Context, script string, args ...string) (dir, output string, err error) {
	capture := &outputCapture{}
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Stdout = captureWriter{capture: capture, isStdout: true}
	cmd.Stderr = captureWriter{capture: capture}
	terminateProcessGroupOnCancel(cmd)
	// After a cancel, give mmdebstrap time to unmount its chroot, then kill
	// the script and stop waiting for children that hold the output pipes.
	cmd.WaitDelay = time.Minute
	runErr := cmd.Run()
	output = capture.combined.String()
	if runErr != nil {
		return "", output, fmt.Errorf("run %s: %w", script, runErr)
	}

	lines := strings.Split(strings.TrimRight(capture.stdout.String(), "\n"), "\n")
	dir = lines[len(lines)-1]
	if dir == "" || !filepath.IsAbs(dir) {
		return "", output, fmt.Errorf("run %s: last line of stdout is %q, expected the image directory", script, dir)
	}
	return dir, output, nil
}

// ReadImage reads dir/image.json and checks that the files it names exist.
func ReadImage(dir string) (*Image, error) {
	path := filepath.Join(dir, MetadataFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read test image metadata: %w (rebuild the image with %s --force)", err, ScriptPath)
	}
	image, err := ParseMetadata(dir, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}

	for _, file := range []string{image.Disk, image.Kernel, image.Initrd} {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("test image file: %w (rebuild the image with %s --force)", err, ScriptPath)
		}
	}
	return image, nil
}

// ParseMetadata parses the contents of image.json for the image in dir. It
// rejects missing fields and file names that leave dir.
func ParseMetadata(dir string, data []byte) (*Image, error) {
	var meta metadata
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&meta); err != nil {
		return nil, fmt.Errorf("invalid image metadata: %w", err)
	}
	if decoder.More() {
		return nil, errors.New("invalid image metadata: data after the JSON object")
	}

	required := []struct{ name, value string }{
		{"os", meta.OS},
		{"version", meta.Version},
		{"disk", meta.Disk},
		{"format", meta.Format},
		{"kernel", meta.Kernel},
		{"initrd", meta.Initrd},
		{"cmdline", meta.Cmdline},
	}
	for _, field := range required {
		if field.value == "" {
			return nil, fmt.Errorf("invalid image metadata: missing %q", field.name)
		}
	}
	if meta.Format != "raw" && meta.Format != "qcow2" {
		return nil, fmt.Errorf("invalid image metadata: format %q, expected raw or qcow2", meta.Format)
	}

	image := &Image{
		Dir:           dir,
		Cmdline:       meta.Cmdline,
		Format:        meta.Format,
		OS:            meta.OS,
		Version:       meta.Version,
		KernelVersion: meta.KernelVersion,
		ScriptSHA256:  meta.ScriptSHA256,
	}
	files := []struct {
		name, value string
		target      *string
	}{
		{"disk", meta.Disk, &image.Disk},
		{"kernel", meta.Kernel, &image.Kernel},
		{"initrd", meta.Initrd, &image.Initrd},
	}
	for _, file := range files {
		if !filepath.IsLocal(file.value) {
			return nil, fmt.Errorf("invalid image metadata: %s %q must be a file name inside the image directory", file.name, file.value)
		}
		*file.target = filepath.Join(dir, file.value)
	}
	return image, nil
}

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that contains the build script. Go runs tests in
// their package's directory, so this works from any package's tests.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ScriptPath)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no %s in the working directory or above it", ScriptPath)
		}
		dir = parent
	}
}

// buildSummary returns the script's own progress lines, which give the
// time of each build step, without mmdebstrap's output.
func buildSummary(output string) string {
	var lines []string
	for line := range strings.SplitSeq(output, "\n") {
		if strings.HasPrefix(line, "build-test-image: ") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// outputCapture stores a command's stdout alone and its stdout and stderr
// interleaved. exec.Cmd copies stdout and stderr from separate goroutines,
// so the buffers need a lock.
type outputCapture struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	combined bytes.Buffer
}

// captureWriter is the io.Writer for one of the command's streams.
type captureWriter struct {
	capture  *outputCapture
	isStdout bool
}

func (w captureWriter) Write(p []byte) (int, error) {
	w.capture.mu.Lock()
	defer w.capture.mu.Unlock()
	if w.isStdout {
		w.capture.stdout.Write(p)
	}
	return w.capture.combined.Write(p)
}
