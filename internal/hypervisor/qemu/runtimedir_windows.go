//go:build windows

package qemu

import (
	"fmt"
	"os"
)

// ensurePrivateDir creates dir if needed. The driver starts no VMs on
// Windows, so the directory is never used for sockets there.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create runtime directory: %w", err)
	}
	return nil
}
