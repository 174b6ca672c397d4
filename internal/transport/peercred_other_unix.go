//go:build unix && !linux && !darwin

package transport

import (
	"fmt"
	"runtime"
)

// peerCredentials is not implemented on this platform, so every peer is
// rejected rather than trusted.
func peerCredentials(int) (Peer, error) {
	return Peer{}, fmt.Errorf("peer credentials are not implemented on %s", runtime.GOOS)
}
