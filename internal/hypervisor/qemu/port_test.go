package qemu

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortIsBindable(t *testing.T) {
	port, err := freePort(nil)
	if err != nil {
		t.Fatal(err)
	}
	if port < 1 || port > 65535 {
		t.Fatalf("freePort = %d, outside 1-65535", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("bind port %d from freePort: %v", port, err)
	}
	defer l.Close()
	if portFree(port) {
		t.Errorf("portFree(%d) = true while it is bound", port)
	}
}

func TestFreePortSkipsUsed(t *testing.T) {
	used := map[int]bool{}
	for range 30 {
		port, err := freePort(used)
		if err != nil {
			t.Fatal(err)
		}
		if used[port] {
			t.Fatalf("freePort returned port %d, which is in used", port)
		}
		used[port] = true
	}
}
