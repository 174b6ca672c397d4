package qemu

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// is not in used. It binds port 0 and closes the listener, so another
// process can take the port before QEMU binds it; Start handles that by
// retrying with a new port.
func freePort(used map[int]bool) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free TCP port on 127.0.0.1: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !used[port] {
			return port, nil
		}
	}
	return 0, errors.New("find a free TCP port on 127.0.0.1: every port offered is recorded for another VM")
}

// portFree reports whether port on 127.0.0.1 can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
