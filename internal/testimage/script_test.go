//go:build linux

package testimage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scriptTimeout bounds the script runs below that never build an image.
const scriptTimeout = 2 * time.Minute

func scriptPath(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, ScriptPath)
}

func scriptSHA256(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(scriptPath(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestScriptReusesCachedImage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: the first run builds the test image, which takes minutes")
	}
	dir := Dir(t)

	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	again, output, err := Build(ctx, scriptPath(t))
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, output)
	}
	if again != dir {
		t.Errorf("second run printed %q, want %q", again, dir)
	}
	if !strings.Contains(output, "using cached image") {
		t.Errorf("second run did not report the cached image:\n%s", output)
	}
	if strings.Contains(output, "mmdebstrap") {
		t.Errorf("second run ran mmdebstrap:\n%s", output)
	}

	wantName := "debian-12-" + scriptSHA256(t)[:16]
	if filepath.Base(dir) != wantName {
		t.Errorf("image directory %s, want a directory named %s", dir, wantName)
	}
	image, err := ReadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if image.ScriptSHA256 != scriptSHA256(t) {
		t.Errorf("image.json script_sha256 = %q, want %q", image.ScriptSHA256, scriptSHA256(t))
	}
}

// TestScriptWaitsForConcurrentBuild holds the build lock as a concurrent
// build would, then finishes that "build" by writing image.json. The
// script must wait, then use the image instead of building its own.
func TestScriptWaitsForConcurrentBuild(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "image")
	lock, err := os.OpenFile(filepath.Join(parent, ".image.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", scriptPath(t), "--out", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	lines := bufio.NewScanner(stderr)
	var stderrText strings.Builder
	waiting := false
	for lines.Scan() {
		stderrText.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "waiting for another build") {
			waiting = true
			break
		}
	}
	if !waiting {
		_ = cmd.Wait()
		t.Fatalf("script did not wait for the lock; stderr:\n%s", stderrText.String())
	}

	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	metadata := fmt.Sprintf("{\n  \"script_sha256\": \"%s\"\n}\n", scriptSHA256(t))
	if err := os.WriteFile(filepath.Join(out, MetadataFile), []byte(metadata), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}

	for lines.Scan() {
		stderrText.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("script failed: %v\nstderr:\n%s", err, stderrText.String())
	}
	if !strings.Contains(stderrText.String(), "using image built by another process") {
		t.Errorf("script did not report the other process's image; stderr:\n%s", stderrText.String())
	}
	if strings.Contains(stderrText.String(), "mmdebstrap") {
		t.Errorf("script built an image after waiting; stderr:\n%s", stderrText.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != out {
		t.Errorf("stdout = %q, want %q", got, out)
	}
}

// TestScriptFailedBuildLeavesNothing points the build at a closed port on
// loopback, so mmdebstrap fails at its first download.
func TestScriptFailedBuildLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: waits for the test image build, which takes minutes")
	}
	// Once this process has the image, no build of the same script runs on
	// this machine, so new scratch directories in /dev/shm come from the
	// run below.
	Dir(t)
	scratchBefore := scratchDirs(t)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := listener.Addr().(*net.TCPAddr).Port
	listener.Close()

	parent := t.TempDir()
	out := filepath.Join(parent, "image")
	mirror := fmt.Sprintf("http://127.0.0.1:%d/debian", closedPort)
	t.Setenv("VMGENIE_DEBIAN_MIRROR", mirror)
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	_, output, err := Build(ctx, scriptPath(t), "--out", out)
	if err == nil {
		t.Fatalf("build from %s succeeded\n%s", mirror, output)
	}
	if !strings.Contains(output, mirror) {
		t.Errorf("output does not name the mirror %s:\n%s", mirror, output)
	}

	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.Name() != ".image.lock" {
			t.Errorf("failed build left %s", filepath.Join(parent, entry.Name()))
		}
	}
	for dir := range scratchDirs(t) {
		if !scratchBefore[dir] {
			t.Errorf("failed build left scratch directory %s", dir)
		}
	}
}

func scratchDirs(t *testing.T) map[string]bool {
	t.Helper()
	matches, err := filepath.Glob("/dev/shm/vmgenie-test-image.*")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, match := range matches {
		dirs[match] = true
	}
	return dirs
}

func TestScriptRejectsUnknownArgument(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	_, output, err := Build(ctx, scriptPath(t), "--outdir", t.TempDir())
	if err == nil {
		t.Fatalf("script accepted --outdir\n%s", output)
	}
	if !strings.Contains(output, "unknown argument: --outdir") {
		t.Errorf("output does not name the argument:\n%s", output)
	}
	if !strings.Contains(output, "Usage:") {
		t.Errorf("output does not show the usage:\n%s", output)
	}
}
