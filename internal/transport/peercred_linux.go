//go:build linux

package transport

import "golang.org/x/sys/unix"

// peerCredentials reads SO_PEERCRED: the pid, uid and gid of the peer at
// connect time.
func peerCredentials(fd int) (Peer, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Peer{}, err
	}
	return Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}
