//go:build !windows

package cli

// sshClientKey returns the instance's key as it is: ssh accepts the key
// file, which the instance store writes with mode 0600.
func sshClientKey(_, keyPath string) (string, func(), error) {
	return keyPath, func() {}, nil
}
