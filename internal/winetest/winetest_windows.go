//go:build windows

package winetest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// wineGetVersion is the export by which programs detect Wine: Windows'
// ntdll.dll has no such function.
var wineGetVersion = windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")

// UnderWine reports whether the process runs under Wine.
func UnderWine() bool {
	return wineGetVersion.Find() == nil
}

// primeTimeout bounds the throwaway connection of PrimePipe.
const primeTimeout = 10 * time.Second

// PrimePipe opens and at once closes one client connection to the pipe
// address under Wine, and does nothing on Windows. Call it after the pipe
// listener opened and before the first real client dials: the throwaway
// client lands on the listener's unserved first instance, whose closed
// client end then turns later clients away to the instances that Accept
// serves. It works whether or not Accept is already waiting.
func PrimePipe(address string) error {
	if !UnderWine() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), primeTimeout)
	defer cancel()
	conn, err := winio.DialPipeContext(ctx, address)
	if err != nil {
		return fmt.Errorf("priming pipe %s under Wine failed: %w", address, err)
	}
	return conn.Close()
}

// TempDir returns a new directory that is removed when the test ends, like
// t.TempDir, whose cleanup fails under Wine.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmgenie-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeTree(dir); err != nil {
			t.Errorf("removing the test directory %s failed: %v", dir, err)
		}
	})
	return dir
}

// removeTree removes dir and everything below it with os.Remove, deepest
// entries first.
func removeTree(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, path)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Reverse(paths)
	for _, path := range paths {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	return nil
}
