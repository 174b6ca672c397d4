//go:build windows

package winacl

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// WritePrivateFile creates path with data, owned by the current user and
// readable by that user and SYSTEM only, and fails when path exists. The
// descriptor is set as the file is created, so no other user can open it
// in between.
//
// ssh.exe of Windows' OpenSSH ignores a private key that any other account
// than its user, SYSTEM and Administrators may read (the "UNPROTECTED
// PRIVATE KEY FILE" check in its sshfileperm code). The keys in the data
// directory are readable by Hyper-V Administrators as well, so connect
// gives ssh.exe a copy written by this function.
func WritePrivateFile(path string, data []byte) (err error) {
	user, err := currentUserSID()
	if err != nil {
		return err
	}
	sddl := fmt.Sprintf("O:%sD:P(A;;FA;;;%s)(A;;FA;;;SY)", user, user)
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("building the descriptor %s failed: %w", sddl, err)
	}
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return fmt.Errorf("invalid file name %q: %w", path, err)
	}
	attrs := &windows.SecurityAttributes{SecurityDescriptor: sd}
	attrs.Length = uint32(unsafe.Sizeof(*attrs))
	handle, err := windows.CreateFile(name, windows.GENERIC_WRITE, 0, attrs, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return fmt.Errorf("creating the private file %s failed: %w", path, err)
	}
	defer func() {
		if closeErr := windows.CloseHandle(handle); closeErr != nil && err == nil {
			err = fmt.Errorf("closing the private file %s failed: %w", path, closeErr)
		}
	}()
	for len(data) > 0 {
		var written uint32
		if err := windows.WriteFile(handle, data, &written, nil); err != nil {
			return fmt.Errorf("writing the private file %s failed: %w", path, err)
		}
		data = data[written:]
	}
	return nil
}

// currentUserSID returns the SID of the user of the process token.
func currentUserSID() (string, error) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("reading the current user from the process token failed: %w", err)
	}
	return user.User.Sid.String(), nil
}
