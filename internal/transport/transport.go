// Package transport opens the service endpoint (a Unix socket, or a named
// pipe on Windows), dials it, and identifies the process at the other end.
package transport

import (
	"context"
	"errors"
	"net"
	"os"
)

// AddressEnv names the environment variable that overrides the default
// socket or pipe address, for both the service and its clients.
const AddressEnv = "VMGENIE_SOCKET"

// ErrNotRunning is wrapped by Dial's error when nothing listens at the
// address: the socket or pipe does not exist, or the connection is refused.
var ErrNotRunning = errors.New("the vmgenie service is not running")

// ResolveAddress returns flagValue when set, else $VMGENIE_SOCKET when set,
// else DefaultAddress(userMode).
func ResolveAddress(flagValue string, userMode bool) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv(AddressEnv); env != "" {
		return env
	}
	return DefaultAddress(userMode)
}

// ListenConfig describes the endpoint the service listens on.
type ListenConfig struct {
	// Address is a Unix socket path, or a pipe name such as \\.\pipe\vmgenie.
	Address string
	// UserMode selects a per-user endpoint: mode 0600 on Unix. Otherwise the
	// Unix socket gets mode 0660 and Group.
	UserMode bool
	// Group owns the system socket on Unix; empty means "vmgenie".
	Group string
}

// Peer identifies the client process of a connection.
type Peer struct {
	PID int    `json:"pid"`
	UID int    `json:"uid"`           // -1 on Windows
	GID int    `json:"gid"`           // -1 on Windows
	SID string `json:"sid,omitempty"` // Windows user SID
	// User is a printable name for logs: "alice (uid 1000)" or "HOST\alice".
	User string `json:"user"`
	// Groups lists, on Windows, the groups allowed to use the service that
	// the caller's token is an enabled member of: "SYSTEM",
	// "Administrators", "Hyper-V Administrators". Empty on Unix.
	Groups []string `json:"groups,omitempty"`
}

// Authorizer decides whether a peer may use the service. It returns a
// non-nil error, naming the peer and the rule, to reject it.
type Authorizer interface {
	Authorize(Peer) error
}

// Listen, Dial, PeerOf, DefaultAddress and NewAuthorizer are implemented
// per platform in transport_unix.go, authorizer_unix.go and
// transport_windows.go:
//
//	func Listen(cfg ListenConfig) (net.Listener, error)
//	func Dial(ctx context.Context, address string) (net.Conn, error)
//	func PeerOf(conn net.Conn) (Peer, error)
//	func DefaultAddress(userMode bool) string
//	func NewAuthorizer(cfg ListenConfig) (Authorizer, error)
var _ = context.Background
var _ net.Conn
