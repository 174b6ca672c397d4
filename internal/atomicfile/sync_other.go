//go:build !unix

package atomicfile

// syncDir does nothing: Windows has no directory fsync, and NTFS journals
// the rename itself.
func syncDir(string) error { return nil }
