//go:build unix

package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Unix socket locations and modes.
const (
	// SystemSocketPath is the socket of the system service.
	SystemSocketPath = "/run/vmgenie/vmgenie.sock"
	// DefaultGroup is the group that owns the system socket. Its members may
	// use the service.
	DefaultGroup = "vmgenie"
	// UserSocketName is the socket's file name in user mode.
	UserSocketName = "vmgenie.sock"

	systemSocketMode = 0o660
	userSocketMode   = 0o600
)

// staleProbeTimeout bounds the dial that checks whether an existing socket
// file still has a service behind it.
const staleProbeTimeout = time.Second

// DefaultAddress returns the system socket, or in user mode
// $XDG_RUNTIME_DIR/vmgenie.sock. When XDG_RUNTIME_DIR is unset, the user
// socket lives in /tmp/vmgenie-<uid>/, a directory that Listen creates with
// mode 0700.
func DefaultAddress(userMode bool) string {
	if !userMode {
		return SystemSocketPath
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, UserSocketName)
	}
	return filepath.Join(fallbackRuntimeDir(), UserSocketName)
}

func fallbackRuntimeDir() string {
	return filepath.Join(os.TempDir(), "vmgenie-"+strconv.Itoa(os.Getuid()))
}

// Listen creates the socket at cfg.Address, or at DefaultAddress when it is
// empty. It removes a socket file left by a service that is gone, and fails
// when another service accepts connections on it. The system socket gets
// mode 0660 and cfg.Group, and a user socket gets mode 0600. Closing the
// listener removes the socket file.
func Listen(cfg ListenConfig) (net.Listener, error) {
	path := cfg.Address
	if path == "" {
		path = DefaultAddress(cfg.UserMode)
	}

	gid := -1
	if !cfg.UserMode {
		var err error
		if gid, err = lookupSocketGroup(cfg.Group); err != nil {
			return nil, err
		}
	}

	if err := prepareSocketDir(filepath.Dir(path), cfg.UserMode); err != nil {
		return nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}

	ln, err := net.Listen("unix", path)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listening on %s failed: another process created the socket at the same moment; stop the other vmgenie service or choose another path with --socket: %w", path, err)
		}
		return nil, fmt.Errorf("listening on %s failed: %w", path, err)
	}

	// NOTE: between bind and chmod the socket's mode comes from the umask:
	// 0755 with the usual 022, which lets no other user connect, because
	// connecting needs write permission. Every connection also passes the
	// Authorizer.
	mode := os.FileMode(userSocketMode)
	if !cfg.UserMode {
		mode = systemSocketMode
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("giving socket %s to group %s (gid %d) failed: run the system service as root, or use --user: %w", path, groupName(cfg.Group), gid, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting mode %o on socket %s failed: %w", mode, path, err)
	}
	return ln, nil
}

func groupName(group string) string {
	if group == "" {
		return DefaultGroup
	}
	return group
}

// lookupSocketGroup returns the gid of the group that owns the system socket.
func lookupSocketGroup(group string) (int, error) {
	name := groupName(group)
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return -1, fmt.Errorf("group %q does not exist, so the system socket cannot be shared with its members: create it with \"groupadd %s\" (and add users with \"usermod -aG %s USER\"), or run a per-user service with --user", name, name, name)
		}
		return -1, fmt.Errorf("looking up group %q failed: %w", name, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("group %q has the non-numeric gid %q", name, g.Gid)
	}
	return gid, nil
}

// prepareSocketDir creates the socket's directory. The user fallback
// directory in /tmp must be ours and private, because anyone can create a
// directory there first.
func prepareSocketDir(dir string, userMode bool) error {
	private := userMode && dir == fallbackRuntimeDir()
	mode := os.FileMode(0o755)
	if private {
		mode = 0o700
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("creating socket directory %s failed: %w", dir, err)
	}
	if !private {
		return nil
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking socket directory %s failed: %w", dir, err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || !ok || int(st.Uid) != os.Getuid() || info.Mode().Perm() != 0o700 {
		return fmt.Errorf("socket directory %s is not a directory owned by uid %d with mode 0700: remove it, or set XDG_RUNTIME_DIR, or choose a path with --socket", dir, os.Getuid())
	}
	return nil
}

// removeStaleSocket deletes a socket file that no service accepts
// connections on.
func removeStaleSocket(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking socket path %s failed: %w", path, err)
	}
	if info.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket path %s exists and is not a socket (%s): remove it or choose another path with --socket", path, info.Mode().Type())
	}

	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		conn.Close()
		return fmt.Errorf("another vmgenie service is already listening on %s: stop it first, or choose another path with --socket", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("checking whether a service listens on %s failed, so the socket was left in place: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket %s failed: %w", path, err)
	}
	return nil
}

// Dial connects to the service socket at address. When no service runs
// there, the error wraps ErrNotRunning.
func Dial(ctx context.Context, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", address)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("connecting to %s failed: %w: %w", address, ErrNotRunning, err)
		}
		return nil, fmt.Errorf("connecting to %s failed: %w", address, err)
	}
	return conn, nil
}

// PeerOf returns the credentials of the process at the other end of a Unix
// socket connection, as the kernel recorded them at connect time.
func PeerOf(conn net.Conn) (Peer, error) {
	unixConn, ok := conn.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("reading peer credentials failed: the connection is a %T, not a Unix socket", conn)
	}
	raw, err := unixConn.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("reading peer credentials failed: %w", err)
	}
	var peer Peer
	var credErr error
	if err := raw.Control(func(fd uintptr) { peer, credErr = peerCredentials(int(fd)) }); err != nil {
		return Peer{}, fmt.Errorf("reading peer credentials failed: %w", err)
	}
	if credErr != nil {
		return Peer{}, fmt.Errorf("reading peer credentials failed: %w", credErr)
	}
	peer.User = fmt.Sprintf("%s (uid %d)", userName(peer.UID), peer.UID)
	return peer, nil
}

// userNames caches uid to user name lookups, which read /etc/passwd or ask
// the directory service on every call.
var userNames sync.Map

// userName returns the login name of uid, or "?" when it has none.
func userName(uid int) string {
	if name, ok := userNames.Load(uid); ok {
		return name.(string)
	}
	name := "?"
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = u.Username
	}
	userNames.Store(uid, name)
	return name
}
