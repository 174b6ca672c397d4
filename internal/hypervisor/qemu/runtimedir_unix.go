//go:build unix

package qemu

import (
	"fmt"
	"os"
	"syscall"
)

// ensurePrivateDir creates dir with mode 0700 if needed and checks that it
// is a real directory owned by this user with no access for others, so
// no other user can replace a QMP socket in it.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create runtime directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check runtime directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("runtime directory %s must be a directory owned by uid %d with mode 0700; remove it or set another runtime directory", dir, os.Getuid())
	}
	return nil
}
