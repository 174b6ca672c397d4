//go:build windows

package hyperv

import (
	"path/filepath"

	"golang.org/x/sys/windows"
)

// longPathName expands 8.3 short components (C:\PROGRA~1) of an existing
// path with GetLongPathNameW.
func longPathName(path string) (string, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return "", err
	}
	buf := make([]uint16, windows.MAX_PATH)
	for {
		n, err := windows.GetLongPathName(p, &buf[0], uint32(len(buf)))
		if err != nil {
			return "", err
		}
		if int(n) <= len(buf) {
			return windows.UTF16ToString(buf[:n]), nil
		}
		buf = make([]uint16, n)
	}
}

// fullPath returns the absolute, cleaned, long form of path.
func fullPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return expandExisting(abs, longPathName)
}
