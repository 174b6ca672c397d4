//go:build windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// DefaultPipe is the named pipe of the service.
const DefaultPipe = `\\.\pipe\vmgenie`

// DefaultGroup is empty on Windows, where the pipe's security descriptor,
// not a group setting, names who may connect.
const DefaultGroup = ""

// PipeSDDL is the security descriptor of the service's pipe, in the Security
// Descriptor Definition Language:
//
//	D:P                        DACL, protected: inherits no ACE from a parent.
//	(A;;GA;;;SY)               Allow GENERIC_ALL to Local System (S-1-5-18),
//	                           the account of the Windows service.
//	(A;;GA;;;BA)               Allow GENERIC_ALL to BUILTIN\Administrators
//	                           (S-1-5-32-544), for elevated processes.
//	(A;;GRGW;;;S-1-5-32-578)   Allow GENERIC_READ and GENERIC_WRITE to
//	                           BUILTIN\Hyper-V Administrators.
//
// No other ACE exists, so everyone else, including Everyone and anonymous
// callers, gets ERROR_ACCESS_DENIED when opening the pipe. go-winio also sets
// FILE_PIPE_REJECT_REMOTE_CLIENTS, so the pipe is local only.
//
// NOTE: on a pipe, GENERIC_WRITE includes FILE_CREATE_PIPE_INSTANCE, so a
// member of Hyper-V Administrators may create further server instances of
// the pipe while the service runs. That same right lets such a member run
// "vmgenie serve" in the foreground. Members of that group already control
// every VM on the host through Hyper-V itself.
const PipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;S-1-5-32-578)"

// DefaultAddress returns the service's pipe. The per-user mode has no pipe
// of its own on Windows.
func DefaultAddress(userMode bool) string {
	return DefaultPipe
}

// Listen creates the named pipe cfg.Address, or DefaultPipe when it is
// empty, with PipeSDDL as its security descriptor. It fails when the pipe
// already exists, which means another service is listening on it.
// cfg.UserMode and cfg.Group have no effect on Windows.
func Listen(cfg ListenConfig) (net.Listener, error) {
	address := cfg.Address
	if address == "" {
		address = DefaultPipe
	}
	if err := checkPipeName(address); err != nil {
		return nil, err
	}
	ln, err := winio.ListenPipe(address, &winio.PipeConfig{SecurityDescriptor: PipeSDDL})
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_PIPE_BUSY) {
			return nil, fmt.Errorf("creating pipe %s failed: another vmgenie service is probably listening on it (check with \"vmgenie service status\"), or this process lacks the right to create it: run as Administrator, or choose another pipe with --socket: %w", address, err)
		}
		return nil, fmt.Errorf("creating pipe %s failed: %w", address, err)
	}
	return ln, nil
}

// checkPipeName rejects addresses that are not local pipe names.
func checkPipeName(address string) error {
	const prefix = `\\.\pipe\`
	name, ok := strings.CutPrefix(address, prefix)
	if !ok || name == "" || strings.Contains(name, `\`) {
		return fmt.Errorf(`invalid pipe name %q: use \\.\pipe\ followed by a name without backslashes, such as %s`, address, DefaultPipe)
	}
	return nil
}

// Dial connects to the service's pipe at address. When no service runs
// there, the error wraps ErrNotRunning.
func Dial(ctx context.Context, address string) (net.Conn, error) {
	conn, err := winio.DialPipeContext(ctx, address)
	if err == nil {
		return conn, nil
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("connecting to %s failed: %w: %w", address, ErrNotRunning, err)
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return nil, fmt.Errorf("connecting to %s failed: only SYSTEM, Administrators and Hyper-V Administrators may use the service: run from an elevated prompt, or ask an administrator to add you to Hyper-V Administrators: %w", address, err)
	}
	return nil, fmt.Errorf("connecting to %s failed: %w", address, err)
}

// Well-known names of the groups allowed to use the service, as they
// appear in Peer.Groups.
const (
	GroupSystem         = "SYSTEM"
	GroupAdministrators = "Administrators"
	GroupHyperVAdmins   = "Hyper-V Administrators"
)

// allowedGroups lists, in the order checked, the groups whose members may
// use the service, with their SIDs, the same as in PipeSDDL. The SIDs are
// written out because CreateWellKnownSid does not know Hyper-V
// Administrators on every system (Wine 8.0 rejects it).
var allowedGroups = []struct {
	name string
	sid  string
}{
	{GroupSystem, "S-1-5-18"},
	{GroupAdministrators, "S-1-5-32-544"},
	{GroupHyperVAdmins, "S-1-5-32-578"},
}

// handleConn is a connection that exposes its Windows handle, as go-winio's
// pipe connections do.
type handleConn interface {
	Fd() uintptr
}

// PeerOf identifies the client process of a pipe connection: its process
// id from GetNamedPipeClientProcessId, its user from the process token, and
// which allowed groups the token is an enabled member of.
//
// NOTE: the process is found by id after it connected. If the client exits
// and Windows reuses its id before OpenProcess, the new process is checked
// instead. The pipe's DACL has already limited callers to the same groups,
// so this check is a second layer and the log's record of the caller.
func PeerOf(conn net.Conn) (Peer, error) {
	hc, ok := conn.(handleConn)
	if !ok {
		return Peer{}, fmt.Errorf("reading the pipe client failed: the connection is a %T, not a named pipe", conn)
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(hc.Fd()), &pid); err != nil {
		return Peer{}, fmt.Errorf("reading the pipe client's process id failed: %w", err)
	}
	peer := Peer{PID: int(pid), UID: -1, GID: -1}

	process, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Peer{}, fmt.Errorf("opening the pipe client's process %d failed: %w", pid, err)
	}
	defer windows.CloseHandle(process)

	var token windows.Token
	if err := windows.OpenProcessToken(process, windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE, &token); err != nil {
		return Peer{}, fmt.Errorf("opening the access token of process %d failed: %w", pid, err)
	}
	defer token.Close()

	if err := describeTokenUser(token, &peer); err != nil {
		return Peer{}, fmt.Errorf("reading the user of process %d failed: %w", pid, err)
	}
	groups, err := allowedMemberships(token)
	if err != nil {
		return Peer{}, fmt.Errorf("checking the groups of process %d (%s) failed: %w", pid, peer.User, err)
	}
	peer.Groups = groups
	return peer, nil
}

// describeTokenUser sets peer.SID and peer.User from the token's user.
func describeTokenUser(token windows.Token, peer *Peer) error {
	tokenUser, err := token.GetTokenUser()
	if err != nil {
		return err
	}
	sid := tokenUser.User.Sid
	peer.SID = sid.String()
	account, domain, _, err := sid.LookupAccount("")
	switch {
	case err != nil:
		// A SID without an account, such as one of a deleted user, is
		// still a valid caller identity for the log.
		peer.User = peer.SID
	case domain != "":
		peer.User = domain + `\` + account
	default:
		peer.User = account
	}
	return nil
}

// allowedMemberships returns the names of the allowed groups that the
// token is an enabled member of. CheckTokenMembership needs an
// impersonation token, so the primary token is duplicated first. A
// deny-only group, such as Administrators in a non-elevated UAC token, does
// not count.
func allowedMemberships(primary windows.Token) ([]string, error) {
	var token windows.Token
	if err := windows.DuplicateTokenEx(primary, windows.TOKEN_QUERY, nil, windows.SecurityIdentification, windows.TokenImpersonation, &token); err != nil {
		return nil, fmt.Errorf("duplicating the token failed: %w", err)
	}
	defer token.Close()

	var groups []string
	for _, g := range allowedGroups {
		sid, err := windows.StringToSid(g.sid)
		if err != nil {
			return nil, fmt.Errorf("building the SID %s of %s failed: %w", g.sid, g.name, err)
		}
		member, err := token.IsMember(sid)
		if err != nil {
			return nil, fmt.Errorf("checking membership of %s failed: %w", g.name, err)
		}
		if member {
			groups = append(groups, g.name)
		}
	}
	return groups, nil
}

// WindowsAuthorizer allows callers whose token is an enabled member of
// SYSTEM, Administrators or Hyper-V Administrators, as PeerOf found them.
type WindowsAuthorizer struct{}

// NewAuthorizer returns the Windows Authorizer. cfg has no effect: the
// allowed groups are fixed, as in PipeSDDL.
func NewAuthorizer(cfg ListenConfig) (Authorizer, error) {
	return WindowsAuthorizer{}, nil
}

// Authorize implements Authorizer.
func (WindowsAuthorizer) Authorize(peer Peer) error {
	for _, g := range peer.Groups {
		for _, allowed := range allowedGroups {
			if g == allowed.name {
				return nil
			}
		}
	}
	return fmt.Errorf("%s (pid %d) is not an enabled member of SYSTEM, Administrators or Hyper-V Administrators: run from an elevated prompt, or add the user to Hyper-V Administrators and log in again", peer.User, peer.PID)
}
