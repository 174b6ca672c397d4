//go:build darwin

package transport

import "golang.org/x/sys/unix"

// peerCredentials reads LOCAL_PEERCRED for the uid and primary gid of the
// peer, and LOCAL_PEERPID for its pid.
func peerCredentials(fd int) (Peer, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Peer{}, err
	}
	peer := Peer{PID: -1, UID: int(cred.Uid), GID: -1}
	if cred.Ngroups > 0 {
		peer.GID = int(cred.Groups[0])
	}
	if pid, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
		peer.PID = pid
	}
	return peer, nil
}
