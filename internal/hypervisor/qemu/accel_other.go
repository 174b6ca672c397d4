//go:build !darwin

package qemu

// hvfSupported reports false: the Hypervisor framework exists only on macOS.
func hvfSupported() (bool, error) { return false, nil }
