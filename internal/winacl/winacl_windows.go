//go:build windows

package winacl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// DataDirSDDL is the security descriptor of the data directory, in the
// Security Descriptor Definition Language:
//
//	D:P                            DACL, protected: nothing is inherited
//	                               from %ProgramData%, whose DACL lets
//	                               every user read.
//	(A;OICI;FA;;;SY)               Full control to Local System, the
//	                               account of the Windows service.
//	(A;OICI;FA;;;BA)               Full control to BUILTIN\Administrators.
//	(A;OICI;0x1301bf;;;S-1-5-32-578)
//	                               Modify (read, write, delete, no change
//	                               of permissions) to BUILTIN\Hyper-V
//	                               Administrators, who may use the service
//	                               and read the keys for "vmgenie connect".
//
// OICI makes files and directories below inherit each entry.
const DataDirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;S-1-5-32-578)"

// Entry is one access-allowed entry of a DACL, with generic rights mapped
// to file rights, because Windows maps them when it stores a descriptor.
type Entry struct {
	SID   string
	Mask  uint32
	Flags uint8
	// Inherited is set when the entry came from a parent directory.
	Inherited bool
}

func (e Entry) String() string {
	s := fmt.Sprintf("%s:%#x", e.SID, e.Mask)
	if e.Flags&^windows.INHERITED_ACE != 0 {
		s += fmt.Sprintf("/flags=%#x", e.Flags&^windows.INHERITED_ACE)
	}
	if e.Inherited {
		s += "/inherited"
	}
	return s
}

// DACL describes the DACL of a file or directory.
type DACL struct {
	Protected bool
	Entries   []Entry
}

func (d DACL) String() string {
	parts := make([]string, len(d.Entries))
	for i, e := range d.Entries {
		parts[i] = e.String()
	}
	return fmt.Sprintf("protected=%v [%s]", d.Protected, strings.Join(parts, " "))
}

// SecureDir creates dir when it is missing and gives it the DACL of
// DataDirSDDL, unless it has that DACL already. Windows passes the
// inheritable entries on to the files and directories below. It returns
// whether it changed the DACL.
//
// Reading the DACL needs only the right to read permissions, so a member
// of Hyper-V Administrators can run it on a directory that is already
// secured. Changing it needs an elevated prompt or the SYSTEM account.
func SecureDir(dir string) (changed bool, err error) {
	if err := checkTarget(dir); err != nil {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating the data directory %s failed: %w", dir, err)
	}
	want, err := WantDataDir()
	if err != nil {
		return false, err
	}
	have, err := ReadDACL(dir)
	if err != nil {
		return false, err
	}
	if Equal(have, want) {
		return false, nil
	}

	sd, err := windows.SecurityDescriptorFromString(DataDirSDDL)
	if err != nil {
		return false, fmt.Errorf("parsing the data directory's descriptor %s failed: %w", DataDirSDDL, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return false, fmt.Errorf("reading the DACL of %s failed: %w", DataDirSDDL, err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, info, nil, nil, dacl, nil); err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return false, fmt.Errorf("restricting %s to SYSTEM, Administrators and Hyper-V Administrators failed: access denied; run \"vmgenie service install\" or this command once from an elevated prompt (Run as administrator): %w", dir, err)
		}
		return false, fmt.Errorf("restricting %s to SYSTEM, Administrators and Hyper-V Administrators failed: %w", dir, err)
	}
	return true, nil
}

// checkTarget rejects paths whose DACL must never be replaced: relative
// paths, drive roots and the shared system folders, so that a data_dir of
// C:\ or C:\ProgramData fails instead of locking users out.
func checkTarget(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("the data directory %q is not an absolute path: set data_dir in the config file to a full path such as C:\\ProgramData\\vmgenie", dir)
	}
	clean := filepath.Clean(dir)
	if clean == filepath.VolumeName(clean)+`\` {
		return fmt.Errorf("the data directory %s is a drive root, whose permissions vmgenie does not change: set data_dir to a directory of its own, such as %s", dir, filepath.Join(clean, "vmgenie"))
	}
	for _, name := range []string{"ProgramData", "ProgramFiles", "SystemRoot", "USERPROFILE", "PUBLIC"} {
		shared := os.Getenv(name)
		if shared != "" && strings.EqualFold(filepath.Clean(shared), clean) {
			return fmt.Errorf("the data directory %s is %%%s%% itself, whose permissions vmgenie does not change: set data_dir to a directory of its own, such as %s", dir, name, filepath.Join(clean, "vmgenie"))
		}
	}
	return nil
}

// ReadDACL reads the DACL of a file or directory.
func ReadDACL(path string) (DACL, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return DACL{}, fmt.Errorf("reading the permissions of %s failed: %w", path, err)
	}
	return describe(sd, path)
}

// WantDataDir returns the DACL of DataDirSDDL, as ReadDACL returns it for a
// secured data directory.
func WantDataDir() (DACL, error) {
	sd, err := windows.SecurityDescriptorFromString(DataDirSDDL)
	if err != nil {
		return DACL{}, fmt.Errorf("parsing %s failed: %w", DataDirSDDL, err)
	}
	return describe(sd, "DataDirSDDL")
}

// Equal reports whether two DACLs have the same protection and the same
// entries in the same order.
func Equal(a, b DACL) bool {
	if a.Protected != b.Protected || len(a.Entries) != len(b.Entries) {
		return false
	}
	for i := range a.Entries {
		if a.Entries[i] != b.Entries[i] {
			return false
		}
	}
	return true
}

func describe(sd *windows.SECURITY_DESCRIPTOR, name string) (DACL, error) {
	control, _, err := sd.Control()
	if err != nil {
		return DACL{}, fmt.Errorf("reading the descriptor control of %s failed: %w", name, err)
	}
	d := DACL{Protected: control&windows.SE_DACL_PROTECTED != 0}
	acl, _, err := sd.DACL()
	if err != nil {
		return DACL{}, fmt.Errorf("reading the DACL of %s failed: %w", name, err)
	}
	if acl == nil {
		return DACL{}, fmt.Errorf("%s has no DACL, which grants everyone full access", name)
	}
	for i := range uint32(acl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(acl, i, &ace); err != nil {
			return DACL{}, fmt.Errorf("reading entry %d of the DACL of %s failed: %w", i, name, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			return DACL{}, fmt.Errorf("entry %d of the DACL of %s has type %d; only access-allowed entries are expected", i, name, ace.Header.AceType)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		d.Entries = append(d.Entries, Entry{
			SID:       sid.String(),
			Mask:      mapGeneric(uint32(ace.Mask)),
			Flags:     ace.Header.AceFlags &^ windows.INHERITED_ACE,
			Inherited: ace.Header.AceFlags&windows.INHERITED_ACE != 0,
		})
	}
	return d, nil
}

// File rights that the generic rights stand for (winnt.h's FILE_GENERIC_*
// and FILE_ALL_ACCESS).
const (
	fileAllAccess = windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff
)

func mapGeneric(mask uint32) uint32 {
	mapping := []struct{ generic, specific uint32 }{
		{windows.GENERIC_READ, windows.FILE_GENERIC_READ},
		{windows.GENERIC_WRITE, windows.FILE_GENERIC_WRITE},
		{windows.GENERIC_EXECUTE, windows.FILE_GENERIC_EXECUTE},
		{windows.GENERIC_ALL, fileAllAccess},
	}
	for _, m := range mapping {
		if mask&m.generic != 0 {
			mask = mask&^m.generic | m.specific
		}
	}
	return mask
}
