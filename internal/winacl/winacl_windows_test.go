//go:build windows

package winacl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/vmgenie/vmgenie/internal/winetest"
)

// Well-known SIDs of the data directory's DACL.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
	sidHyperVAdmins   = "S-1-5-32-578"
	sidUsers          = "S-1-5-32-545"
	sidEveryone       = "S-1-1-0"
)

// requireFileDACLs skips a test that reads back a file's DACL under Wine,
// which does not store file DACLs.
func requireFileDACLs(t *testing.T) {
	t.Helper()
	if winetest.UnderWine() {
		t.Skip("Wine 8.0 does not store file DACLs: GetNamedSecurityInfo returns one made from the Unix mode; run on Windows")
	}
}

// describeSDDL returns the DACL of a descriptor string.
func describeSDDL(t *testing.T, sddl string) DACL {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	d, err := describe(sd, sddl)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWantDataDirEntries(t *testing.T) {
	want, err := WantDataDir()
	if err != nil {
		t.Fatal(err)
	}
	if !want.Protected {
		t.Error("DataDirSDDL is not protected")
	}
	const inherit = windows.OBJECT_INHERIT_ACE | windows.CONTAINER_INHERIT_ACE
	expected := []Entry{
		{SID: sidSystem, Mask: fileAllAccess, Flags: inherit},
		{SID: sidAdministrators, Mask: fileAllAccess, Flags: inherit},
		{SID: sidHyperVAdmins, Mask: 0x1301bf, Flags: inherit},
	}
	if len(want.Entries) != len(expected) {
		t.Fatalf("DataDirSDDL has %d entries, want %d: %s", len(want.Entries), len(expected), want)
	}
	for i, e := range expected {
		if want.Entries[i] != e {
			t.Errorf("entry %d = %s, want %s", i, want.Entries[i], e)
		}
	}
	if m := want.Entries[2].Mask; m&(windows.WRITE_DAC|windows.WRITE_OWNER) != 0 {
		t.Errorf("Hyper-V Administrators may change permissions: mask %#x", m)
	}
}

// TestEqualToDataDir compares descriptors that SecureDir may find with the
// data directory's, so that it replaces each one that is not exactly it.
func TestEqualToDataDir(t *testing.T) {
	want, err := WantDataDir()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		sddl  string
		equal bool
	}{
		{"same", DataDirSDDL, true},
		{"generic rights as stored", "D:P(A;OICI;0x1f01ff;;;SY)(A;OICI;0x1f01ff;;;BA)(A;OICI;0x1301bf;;;S-1-5-32-578)", true},
		{"not protected", "D:(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;S-1-5-32-578)", false},
		{"Users may read", DataDirSDDL + "(A;OICI;0x1200a9;;;BU)", false},
		{"Everyone may read", DataDirSDDL + "(A;OICI;0x1200a9;;;WD)", false},
		{"Hyper-V Administrators may change permissions", "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;S-1-5-32-578)", false},
		{"not inherited by files", "D:P(A;CI;FA;;;SY)(A;CI;FA;;;BA)(A;CI;0x1301bf;;;S-1-5-32-578)", false},
		{"inherited entries", "D:P(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;0x1301bf;;;S-1-5-32-578)", false},
		{"Hyper-V Administrators missing", "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", false},
		{"other order", "D:P(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1301bf;;;S-1-5-32-578)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeSDDL(t, tt.sddl)
			if Equal(got, want) != tt.equal {
				t.Errorf("Equal(%s, data directory) = %v, want %v", got, !tt.equal, tt.equal)
			}
		})
	}
}

func TestDescribeRejectsDenyEntries(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString("D:P(D;OICI;FA;;;BU)(A;OICI;FA;;;SY)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := describe(sd, "deny"); err == nil {
		t.Error("describe accepted an access-denied entry")
	}
}

// TestSecureDirCreatesDir runs SecureDir where it works under Wine as on
// Windows: it creates the directory and accepts it on a second call.
func TestSecureDirCreatesDir(t *testing.T) {
	dir := filepath.Join(winetest.TempDir(t), "data", "vmgenie")
	if _, err := SecureDir(dir); err != nil {
		t.Fatalf("SecureDir(%s): %v", dir, err)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("SecureDir did not create %s: %v", dir, err)
	}
	if _, err := SecureDir(dir); err != nil {
		t.Fatalf("second SecureDir(%s): %v", dir, err)
	}
}

func TestSecureDirSetsDACL(t *testing.T) {
	requireFileDACLs(t)
	dir := filepath.Join(winetest.TempDir(t), "vmgenie")
	changed, err := SecureDir(dir)
	if err != nil {
		t.Fatalf("SecureDir(%s): %v", dir, err)
	}
	if !changed {
		t.Error("SecureDir on a new directory reported no change")
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("SecureDir did not create %s: %v", dir, err)
	}
	got, err := ReadDACL(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := WantDataDir()
	if !Equal(got, want) {
		t.Errorf("DACL of %s = %s, want %s", dir, got, want)
	}
	for _, e := range got.Entries {
		if e.SID == sidUsers || e.SID == sidEveryone {
			t.Errorf("DACL of %s grants %s", dir, e)
		}
	}

	changed, err = SecureDir(dir)
	if err != nil {
		t.Fatalf("second SecureDir: %v", err)
	}
	if changed {
		t.Error("second SecureDir changed a DACL that was already right")
	}
}

// TestSecureDirReplacesOpenDACL gives the directory an entry for Users
// first, as %ProgramData% passes on, and checks that SecureDir removes it.
func TestSecureDirReplacesOpenDACL(t *testing.T) {
	requireFileDACLs(t)
	dir := filepath.Join(winetest.TempDir(t), "vmgenie")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	setSDDL(t, dir, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)")
	changed, err := SecureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Error("SecureDir left a DACL that grants Users")
	}
	got, err := ReadDACL(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := WantDataDir()
	if !Equal(got, want) {
		t.Errorf("DACL of %s = %s, want %s", dir, got, want)
	}
}

// TestSecuredDirChildInherits checks that a file created in a secured
// directory, as the service creates instance keys, inherits its entries.
func TestSecuredDirChildInherits(t *testing.T) {
	requireFileDACLs(t)
	dir := filepath.Join(winetest.TempDir(t), "vmgenie")
	if _, err := SecureDir(dir); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "web-1.pem")
	if err := os.WriteFile(key, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDACL(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DACL of a new file in the data directory: %s", got)
	sids := map[string]bool{}
	for _, e := range got.Entries {
		sids[e.SID] = true
		if !e.Inherited {
			t.Errorf("entry %s of %s is not inherited", e, key)
		}
	}
	for _, sid := range []string{sidSystem, sidAdministrators, sidHyperVAdmins} {
		if !sids[sid] {
			t.Errorf("%s did not inherit an entry for %s: %s", key, sid, got)
		}
	}
	for _, sid := range []string{sidUsers, sidEveryone} {
		if sids[sid] {
			t.Errorf("%s grants %s: %s", key, sid, got)
		}
	}
}

// TestSecureDirPropagatesToExisting checks that files made before the
// directory was secured lose the entries they inherited from the old DACL.
func TestSecureDirPropagatesToExisting(t *testing.T) {
	requireFileDACLs(t)
	dir := filepath.Join(winetest.TempDir(t), "vmgenie")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	setSDDL(t, dir, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)")
	key := filepath.Join(dir, "old.pem")
	if err := os.WriteFile(key, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SecureDir(dir); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDACL(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got.Entries {
		if e.SID == sidUsers {
			t.Errorf("%s still grants Users after SecureDir: %s", key, got)
		}
	}
}

func TestSecureDirRejectsSharedFolders(t *testing.T) {
	programData := os.Getenv("ProgramData")
	if programData == "" {
		t.Fatal("%ProgramData% is not set")
	}
	for _, dir := range []string{`C:\`, `D:\`, programData, `relative\vmgenie`} {
		if _, err := SecureDir(dir); err == nil {
			t.Errorf("SecureDir(%q) succeeded, want an error", dir)
		} else if !strings.Contains(err.Error(), "data_dir") {
			t.Errorf("SecureDir(%q) error %q should say to set data_dir", dir, err)
		}
	}
}

func TestWritePrivateFile(t *testing.T) {
	path := filepath.Join(winetest.TempDir(t), "web-1.pem")
	if err := WritePrivateFile(path, []byte("key data")); err != nil {
		t.Fatalf("WritePrivateFile: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "key data" {
		t.Fatalf("ReadFile = %q, %v; want \"key data\"", data, err)
	}

	if err := WritePrivateFile(path, []byte("other")); err == nil {
		t.Error("WritePrivateFile over an existing file succeeded, want an error")
	}
	if data, _ := os.ReadFile(path); string(data) != "key data" {
		t.Errorf("the failed WritePrivateFile changed the file to %q", data)
	}
}

func TestWritePrivateFileDACL(t *testing.T) {
	requireFileDACLs(t)
	path := filepath.Join(winetest.TempDir(t), "web-1.pem")
	if err := WritePrivateFile(path, []byte("key data")); err != nil {
		t.Fatalf("WritePrivateFile: %v", err)
	}
	user, err := currentUserSID()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		t.Fatal(err)
	}
	if owner.String() != user {
		t.Errorf("owner of %s = %s, want the current user %s", path, owner, user)
	}
	got, err := ReadDACL(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DACL{Protected: true, Entries: []Entry{{SID: user, Mask: fileAllAccess}, {SID: sidSystem, Mask: fileAllAccess}}}
	if !Equal(got, want) {
		t.Errorf("DACL of %s = %s, want %s", path, got, want)
	}
}

func setSDDL(t *testing.T, path, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, nil, nil, dacl, nil); err != nil {
		t.Fatalf("setting %s on %s: %v", sddl, path, err)
	}
}
