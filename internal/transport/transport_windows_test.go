//go:build windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

func TestPipeSDDLParses(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString(PipeSDDL)
	if err != nil {
		t.Fatalf("SecurityDescriptorFromString(%q): %v", PipeSDDL, err)
	}
	control, _, err := sd.Control()
	if err != nil {
		t.Fatalf("Control: %v", err)
	}
	if control&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("control %#x lacks SE_DACL_PROTECTED", control)
	}

	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatalf("DACL: %v", err)
	}
	want := []struct {
		sid  string
		mask windows.ACCESS_MASK
	}{
		{"S-1-5-18", windows.GENERIC_ALL},
		{"S-1-5-32-544", windows.GENERIC_ALL},
		{"S-1-5-32-578", windows.GENERIC_READ | windows.GENERIC_WRITE},
	}
	if int(dacl.AceCount) != len(want) {
		t.Fatalf("DACL has %d ACEs, want %d", dacl.AceCount, len(want))
	}
	for i, w := range want {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, uint32(i), &ace); err != nil {
			t.Fatalf("GetAce(%d): %v", i, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			t.Errorf("ACE %d type = %d, want access allowed", i, ace.Header.AceType)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if got := sid.String(); got != w.sid {
			t.Errorf("ACE %d SID = %s, want %s", i, got, w.sid)
		}
		if ace.Mask != w.mask {
			t.Errorf("ACE %d mask = %#x, want %#x", i, ace.Mask, w.mask)
		}
	}
}

func TestCheckPipeName(t *testing.T) {
	tests := []struct {
		address string
		valid   bool
	}{
		{`\\.\pipe\vmgenie`, true},
		{`\\.\pipe\vmgenie-test-1`, true},
		{`\\.\pipe\`, false},
		{`\\.\pipe\a\b`, false},
		{`\\server\pipe\vmgenie`, false},
		{`C:\vmgenie.sock`, false},
		{``, false},
	}
	for _, tt := range tests {
		err := checkPipeName(tt.address)
		if (err == nil) != tt.valid {
			t.Errorf("checkPipeName(%q) = %v, want valid %v", tt.address, err, tt.valid)
		}
	}
}

func TestWindowsAuthorizer(t *testing.T) {
	tests := []struct {
		groups []string
		allow  bool
	}{
		{[]string{GroupSystem}, true},
		{[]string{GroupAdministrators}, true},
		{[]string{GroupHyperVAdmins}, true},
		{[]string{"Users", GroupHyperVAdmins}, true},
		{nil, false},
		{[]string{"Users"}, false},
	}
	for _, tt := range tests {
		err := WindowsAuthorizer{}.Authorize(Peer{PID: 42, User: `HOST\ann`, Groups: tt.groups})
		if (err == nil) != tt.allow {
			t.Errorf("Authorize(groups %v) = %v, want allowed %v", tt.groups, err, tt.allow)
		}
	}
}

func TestDefaultAddressIsPipe(t *testing.T) {
	for _, user := range []bool{false, true} {
		if got := DefaultAddress(user); got != DefaultPipe {
			t.Errorf("DefaultAddress(%v) = %q, want %q", user, got, DefaultPipe)
		}
	}
}

// TestPipeRoundTrip listens on a pipe of its own, connects to it and
// identifies the test process as the peer.
func TestPipeRoundTrip(t *testing.T) {
	address := fmt.Sprintf(`\\.\pipe\vmgenie-test-%d`, os.Getpid())
	ln, err := Listen(ListenConfig{Address: address})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()

	if _, err := Listen(ListenConfig{Address: address}); err == nil {
		t.Error("second Listen on the same pipe succeeded, want an error")
	}

	accepted := make(chan Peer, 1)
	acceptErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		defer conn.Close()
		peer, err := PeerOf(conn)
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- peer
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := Dial(ctx, address)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()

	select {
	case peer := <-accepted:
		if peer.PID != os.Getpid() {
			t.Errorf("peer PID = %d, want %d", peer.PID, os.Getpid())
		}
		if peer.SID == "" || peer.User == "" {
			t.Errorf("peer SID %q, User %q: want both set", peer.SID, peer.User)
		}
		if peer.UID != -1 || peer.GID != -1 {
			t.Errorf("peer UID %d, GID %d: want -1 on Windows", peer.UID, peer.GID)
		}
		// The test process can open the pipe, so the DACL let it in, so its
		// token is in one of the allowed groups.
		if len(peer.Groups) == 0 || !slices.ContainsFunc(peer.Groups, func(g string) bool {
			return g == GroupSystem || g == GroupAdministrators || g == GroupHyperVAdmins
		}) {
			t.Errorf("peer groups = %v, want an allowed group", peer.Groups)
		}
	case err := <-acceptErr:
		t.Fatalf("accept or PeerOf: %v", err)
	case <-ctx.Done():
		t.Fatal("timed out waiting for the accepted connection")
	}
}

func TestDialMissingPipe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Dial(ctx, fmt.Sprintf(`\\.\pipe\vmgenie-missing-%d`, os.Getpid()))
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial error = %v, want ErrNotRunning", err)
	}
}
