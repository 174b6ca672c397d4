package hyperv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// expandExisting applies expand (GetLongPathName on Windows) to the longest
// existing prefix of the absolute path abs and appends the rest unchanged,
// since GetLongPathName fails on paths that do not exist yet, such as a new
// instance directory.
func expandExisting(abs string, expand func(string) (string, error)) (string, error) {
	existing := abs
	var rest []string
	for {
		if _, err := os.Stat(existing); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return abs, nil
		}
		rest = append([]string{filepath.Base(existing)}, rest...)
		existing = parent
	}
	long, err := expand(existing)
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{long}, rest...)...), nil
}
