//go:build unix

package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shortDir returns a fresh directory with a short path, because Unix socket
// paths are limited to about 100 bytes and t.TempDir paths can be longer.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmgt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func listenUser(t *testing.T, path string) net.Listener {
	t.Helper()
	ln, err := Listen(ListenConfig{Address: path, UserMode: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestListenUserModeSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	ln := listenUser(t, path)
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Type() != os.ModeSocket || info.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with mode 0600", info.Mode())
	}
	ln.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still exists after Close: %v", err)
	}
}

func TestListenSystemModeSetsGroup(t *testing.T) {
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Skipf("our primary gid %d has no group name to pass as Group: %v", os.Getgid(), err)
	}
	path := filepath.Join(shortDir(t), "s.sock")
	ln, err := Listen(ListenConfig{Address: path, Group: g.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o660 {
		t.Errorf("system socket mode = %v, want 0660", info.Mode().Perm())
	}
	if gid := int(info.Sys().(*syscall.Stat_t).Gid); gid != os.Getgid() {
		t.Errorf("socket gid = %d, want %d (%s)", gid, os.Getgid(), g.Name)
	}
}

func TestListenMissingGroupExplainsFix(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	_, err := Listen(ListenConfig{Address: path, Group: "vmgenie-test-no-such-group"})
	if err == nil {
		t.Fatal("Listen succeeded with a group that does not exist")
	}
	for _, want := range []string{"does not exist", "groupadd vmgenie-test-no-such-group", "--user"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should contain %q", err, want)
		}
	}
}

func TestListenRemovesStaleSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	// Leave a socket file behind with nothing listening, as a crashed
	// service would.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket was not left behind: %v", err)
	}

	ln := listenUser(t, path)
	if ln == nil {
		t.Fatal("no listener")
	}
}

func TestListenRejectsRunningService(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	listenUser(t, path)
	_, err := Listen(ListenConfig{Address: path, UserMode: true})
	if err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("second Listen returned %v, want an error saying a service is already listening", err)
	}
	if _, statErr := os.Lstat(path); statErr != nil {
		t.Errorf("the running service's socket was removed: %v", statErr)
	}
}

func TestListenRejectsNonSocketFile(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(ListenConfig{Address: path, UserMode: true})
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen returned %v, want an error saying the path is not a socket", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "data" {
		t.Error("Listen changed a regular file at the socket path")
	}
}

func TestDefaultAddressUserMode(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/4242")
	if got := DefaultAddress(true); got != "/run/user/4242/vmgenie.sock" {
		t.Errorf("DefaultAddress(true) = %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := filepath.Join(os.TempDir(), "vmgenie-"+strconv.Itoa(os.Getuid()), "vmgenie.sock")
	if got := DefaultAddress(true); got != want {
		t.Errorf("DefaultAddress(true) without XDG_RUNTIME_DIR = %q, want %q", got, want)
	}
	if got := DefaultAddress(false); got != SystemSocketPath {
		t.Errorf("DefaultAddress(false) = %q, want %q", got, SystemSocketPath)
	}
}

func TestResolveAddressOrder(t *testing.T) {
	t.Setenv(AddressEnv, "/env/s.sock")
	if got := ResolveAddress("/flag/s.sock", false); got != "/flag/s.sock" {
		t.Errorf("flag should win: got %q", got)
	}
	if got := ResolveAddress("", false); got != "/env/s.sock" {
		t.Errorf("env should win over the default: got %q", got)
	}
	t.Setenv(AddressEnv, "")
	if got := ResolveAddress("", false); got != SystemSocketPath {
		t.Errorf("default: got %q", got)
	}
}

func TestFallbackDirMustBePrivate(t *testing.T) {
	tmp := shortDir(t)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", "")
	dir := fallbackRuntimeDir()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(ListenConfig{UserMode: true})
	if err == nil || !strings.Contains(err.Error(), "mode 0700") {
		t.Fatalf("Listen in a shared fallback directory returned %v, want a refusal naming mode 0700", err)
	}

	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(ListenConfig{UserMode: true})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func TestDialNotRunning(t *testing.T) {
	dir := shortDir(t)
	_, err := Dial(context.Background(), filepath.Join(dir, "missing.sock"))
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("dialing a missing socket: %v, want ErrNotRunning", err)
	}

	path := filepath.Join(dir, "stale.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	_, err = Dial(context.Background(), path)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("dialing a socket nobody listens on: %v, want ErrNotRunning", err)
	}
}

func TestPeerOfReturnsOurCredentials(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skipf("peer credentials are implemented for linux and darwin, not %s", runtime.GOOS)
	}
	ln := listenUser(t, filepath.Join(shortDir(t), "s.sock"))
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- conn
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("Accept failed")
	}
	defer server.Close()

	peer, err := PeerOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if peer.UID != os.Getuid() || peer.GID != os.Getgid() || peer.PID != os.Getpid() {
		t.Errorf("peer = %+v, want uid %d gid %d pid %d", peer, os.Getuid(), os.Getgid(), os.Getpid())
	}
	if !strings.Contains(peer.User, "uid "+strconv.Itoa(os.Getuid())) {
		t.Errorf("peer.User = %q, want it to name the uid", peer.User)
	}
}

func TestUnixAuthorizer(t *testing.T) {
	const serviceUID, groupID = 1500, 1600
	a := &UnixAuthorizer{ServiceUID: serviceUID, GroupID: groupID, GroupName: "vmgenie"}
	cases := []struct {
		name  string
		peer  Peer
		allow bool
	}{
		{"root", Peer{UID: 0, GID: 0}, true},
		{"service user", Peer{UID: serviceUID, GID: 99}, true},
		{"primary group member", Peer{UID: 1700, GID: groupID}, true},
		{"stranger", Peer{UID: 1701, GID: 1701, User: "? (uid 1701)"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Authorize(tc.peer)
			if (err == nil) != tc.allow {
				t.Fatalf("Authorize(%+v) = %v, want allowed=%v", tc.peer, err, tc.allow)
			}
			if err != nil && !strings.Contains(err.Error(), "usermod -aG vmgenie") {
				t.Errorf("rejection %q should say how to join the group", err)
			}
		})
	}

	userMode := &UnixAuthorizer{ServiceUID: serviceUID, GroupID: -1}
	if err := userMode.Authorize(Peer{UID: 1700, GID: groupID}); err == nil {
		t.Error("user mode allowed another uid")
	}
}

func TestNewAuthorizerUserMode(t *testing.T) {
	a, err := NewAuthorizer(ListenConfig{UserMode: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Authorize(Peer{UID: os.Getuid(), GID: os.Getgid()}); err != nil {
		t.Errorf("our own uid was rejected: %v", err)
	}
}
