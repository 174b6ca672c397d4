//go:build darwin

package qemu

import "golang.org/x/sys/unix"

// hvfSupported reads kern.hv_support, which macOS sets to 1 when the
// Hypervisor framework can run VMs.
func hvfSupported() (bool, error) {
	v, err := unix.SysctlUint32("kern.hv_support")
	if err != nil {
		return false, err
	}
	return v == 1, nil
}
