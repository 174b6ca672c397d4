//go:build windows

package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmgenie/vmgenie/internal/winacl"
)

// sshClientKey returns a copy of the instance's private key that ssh.exe
// accepts, and a function that removes it. Windows' OpenSSH ignores a key
// that accounts other than its user, SYSTEM and Administrators may read,
// and the key in the data directory is readable by Hyper-V Administrators
// too. The copy goes to %LocalAppData%\vmgenie\ssh, owned by and readable
// only by the current user.
func sshClientKey(name, keyPath string) (string, func(), error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return "", nil, fmt.Errorf("read the SSH key of %q: %w; run this command as a member of Administrators or Hyper-V Administrators", name, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", nil, fmt.Errorf("find %%LocalAppData%% for the SSH key copy: %w", err)
	}
	dir := filepath.Join(cache, "vmgenie", "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("create %s for the SSH key copy: %w", dir, err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.pem", name, os.Getpid()))
	_ = os.Remove(path) // left by an earlier process with the same id
	if err := winacl.WritePrivateFile(path, data); err != nil {
		return "", nil, err
	}
	return path, func() { _ = os.Remove(path) }, nil
}
