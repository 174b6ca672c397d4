//go:build windows

package logging

import (
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// openShared opens a log file for reading with FILE_SHARE_DELETE, which
// os.Open does not ask for. Without it the service could not rename the
// file to rotate it while "vmgenie logs -f" has it open.
func openShared(path string) (*os.File, error) {
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(name, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
