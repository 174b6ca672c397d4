//go:build unix

package transport

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
)

// UnixAuthorizer allows root, the uid the service runs as, and members of
// one group. The kernel already checks the socket file's mode at connect
// time. This second check also covers a socket whose mode was changed, and
// it gives the rejected caller an error response instead of a refused
// connection.
type UnixAuthorizer struct {
	// ServiceUID is the uid the service runs as.
	ServiceUID int
	// GroupID is the group whose members are allowed, or -1 for none.
	GroupID int
	// GroupName is GroupID's name, for messages.
	GroupName string
}

// NewAuthorizer returns the Authorizer for cfg: in user mode root and the
// service's own uid, otherwise also the members of cfg.Group ("vmgenie" when
// empty).
func NewAuthorizer(cfg ListenConfig) (Authorizer, error) {
	a := &UnixAuthorizer{ServiceUID: os.Getuid(), GroupID: -1}
	if cfg.UserMode {
		return a, nil
	}
	gid, err := lookupSocketGroup(cfg.Group)
	if err != nil {
		return nil, err
	}
	a.GroupID = gid
	a.GroupName = groupName(cfg.Group)
	return a, nil
}

// Authorize implements Authorizer.
func (a *UnixAuthorizer) Authorize(peer Peer) error {
	if peer.UID == 0 || peer.UID == a.ServiceUID {
		return nil
	}
	if a.GroupID >= 0 && isGroupMember(peer, a.GroupID) {
		return nil
	}
	if a.GroupID < 0 {
		return fmt.Errorf("%s (pid %d) is neither root nor the service's user (uid %d): connect to a service running as your own user, such as one started with \"vmgenie serve --user\"", peer.User, peer.PID, a.ServiceUID)
	}
	return fmt.Errorf("%s (pid %d) is neither root, the service's user (uid %d), nor a member of group %q: add the user with \"usermod -aG %s %s\" and log in again", peer.User, peer.PID, a.ServiceUID, a.GroupName, a.GroupName, userName(peer.UID))
}

// isGroupMember reports whether the peer's primary group is gid or the user
// database lists the peer's user in gid.
func isGroupMember(peer Peer, gid int) bool {
	if peer.GID == gid {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(peer.UID))
	if err != nil {
		return false
	}
	groups, err := u.GroupIds()
	if err != nil {
		return false
	}
	return slices.Contains(groups, strconv.Itoa(gid))
}
