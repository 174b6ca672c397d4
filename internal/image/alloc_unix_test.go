//go:build unix

package image

import (
	"os"
	"syscall"
)

// allocatedBytes returns the bytes a file occupies on disk.
func allocatedBytes(info os.FileInfo) (int64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Blocks * 512, true
}
