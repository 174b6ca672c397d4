//go:build windows

package seed

// syncDir does nothing on Windows, where a directory cannot be opened for
// syncing and NTFS journals the rename itself.
func syncDir(string) error { return nil }
