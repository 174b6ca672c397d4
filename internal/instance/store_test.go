package instance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleMetadata(name string) *Metadata {
	return &Metadata{
		Name: name, Phase: PhaseProvisioning, OS: "debian", Version: "12",
		Image: "debian-12", Username: "genie", CPUs: 2, MemoryMiB: 1024, DiskGiB: 8,
		Driver: "qemu", InstanceID: "iid-0123", SSHHost: "127.0.0.1", SSHPort: 2222,
		CreatedAt: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
	}
}

func TestStoreCreateLoadRoundTrip(t *testing.T) {
	s := newTestStore(t)
	md := sampleMetadata("demo")
	if err := s.Create(md); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("demo")
	if err != nil {
		t.Fatal(err)
	}
	if *got != *md {
		t.Errorf("Load = %+v, want %+v", got, md)
	}
	info, err := os.Stat(s.Dir("demo"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Errorf("instance directory mode = %v, want 0700", info.Mode().Perm())
	}
}

func TestStoreCreateExistingIsConflict(t *testing.T) {
	s := newTestStore(t)
	if err := s.Create(sampleMetadata("demo")); err != nil {
		t.Fatal(err)
	}
	err := s.Create(sampleMetadata("demo"))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second Create = %v, want ErrConflict", err)
	}
}

func TestStoreCreateNeverAdoptsDirectory(t *testing.T) {
	s := newTestStore(t)
	leftover := filepath.Join(s.Dir("old"), "disk.qcow2")
	if err := os.MkdirAll(filepath.Dir(leftover), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftover, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(sampleMetadata("old")); !errors.Is(err, ErrConflict) {
		t.Fatalf("Create over a leftover directory = %v, want ErrConflict", err)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Errorf("leftover file was touched: %v", err)
	}
}

func TestStoreLoadMissingIsNotFound(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Load("ghost"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load = %v, want ErrNotFound", err)
	}
}

func TestStoreLoadRejectsBadName(t *testing.T) {
	s := newTestStore(t)
	var nameErr *InvalidNameError
	if _, err := s.Load("../etc"); !errors.As(err, &nameErr) {
		t.Fatalf("Load(../etc) = %v, want *InvalidNameError", err)
	}
}

func TestStoreListSortedAndReportsBroken(t *testing.T) {
	s := newTestStore(t)
	for _, name := range []string{"zeta", "alpha"} {
		if err := s.Create(sampleMetadata(name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(s.Dir("broken"), 0o700); err != nil {
		t.Fatal(err)
	}
	list, problems := s.List()
	if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "zeta" {
		t.Errorf("List names = %v, want [alpha zeta]", names(list))
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "broken") {
		t.Errorf("List problems = %v, want one about \"broken\"", problems)
	}
}

func TestStoreRemoveDeletesEverything(t *testing.T) {
	s := newTestStore(t)
	if err := s.Create(sampleMetadata("demo")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GenerateKeyPair("demo"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir("demo")); !os.IsNotExist(err) {
		t.Errorf("instance directory still exists: %v", err)
	}
}

func TestGenerateKeyPair(t *testing.T) {
	s := newTestStore(t)
	if err := s.Create(sampleMetadata("demo")); err != nil {
		t.Fatal(err)
	}
	line, err := s.GenerateKeyPair("demo")
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("public key line %q does not parse: %v", line, err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("key type = %s, want ed25519", pub.Type())
	}
	if comment != "vmgenie-demo" {
		t.Errorf("comment = %q, want vmgenie-demo", comment)
	}
	info, err := os.Stat(s.PrivateKeyPath("demo"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, want 0600", info.Mode().Perm())
	}
	signer, err := s.Signer("demo")
	if err != nil {
		t.Fatal(err)
	}
	if string(signer.PublicKey().Marshal()) != string(pub.Marshal()) {
		t.Error("private key does not match the public key")
	}
	other, err := s.GenerateKeyPair("demo")
	if err != nil {
		t.Fatal(err)
	}
	if other == line {
		t.Error("two generated key pairs are equal")
	}
}

func names(list []*Metadata) []string {
	var out []string
	for _, md := range list {
		out = append(out, md.Name)
	}
	return out
}
