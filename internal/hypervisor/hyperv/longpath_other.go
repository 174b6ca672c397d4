//go:build !windows

package hyperv

import "path/filepath"

// fullPath returns the absolute, cleaned form of path; only Windows has
// short names to expand.
func fullPath(path string) (string, error) {
	return filepath.Abs(path)
}
