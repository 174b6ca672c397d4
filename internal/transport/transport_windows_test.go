//go:build windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
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

// TestAllowedGroupsMatchSDDL keeps the token check and the pipe's DACL on
// the same three groups.
func TestAllowedGroupsMatchSDDL(t *testing.T) {
	for _, g := range allowedGroups {
		if g.sid == "S-1-5-18" || g.sid == "S-1-5-32-544" {
			continue // written as SY and BA in the SDDL
		}
		if !strings.Contains(PipeSDDL, g.sid) {
			t.Errorf("PipeSDDL %s lacks %s (%s)", PipeSDDL, g.sid, g.name)
		}
	}
	for _, sid := range []string{"S-1-5-18", "S-1-5-32-544", "S-1-5-32-578"} {
		if _, err := windows.StringToSid(sid); err != nil {
			t.Errorf("StringToSid(%s): %v", sid, err)
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

// skipUnderWine skips a test of go-winio's pipe listener under Wine. Wine
// 8.0 lets a client connect to the listener's first pipe instance, which
// go-winio creates without read or write access so that it accepts no
// client, so Accept never returns. Wine also creates a pipe that already
// exists despite FILE_CREATE. Wine is recognised by the wine_get_version
// export of its ntdll.dll.
func skipUnderWine(t *testing.T) {
	t.Helper()
	if windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil {
		t.Skip("go-winio's pipe listener does not work under Wine: a Dial reaches the listener's first, non-accepting instance; run this test on Windows")
	}
}

// TestPipeRoundTrip listens on a pipe of its own, connects to it and
// identifies the test process as the peer.
func TestPipeRoundTrip(t *testing.T) {
	skipUnderWine(t)
	address := fmt.Sprintf(`\\.\pipe\vmgenie-test-%d`, os.Getpid())
	ln, err := Listen(ListenConfig{Address: address})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()

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

func TestListenRejectsExistingPipe(t *testing.T) {
	skipUnderWine(t)
	address := fmt.Sprintf(`\\.\pipe\vmgenie-test-twice-%d`, os.Getpid())
	ln, err := Listen(ListenConfig{Address: address})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	second, err := Listen(ListenConfig{Address: address})
	if err == nil {
		second.Close()
		t.Fatal("second Listen on the same pipe succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "creating pipe "+address+" failed") {
		t.Errorf("second Listen error = %v, want it to name the pipe", err)
	}
}

// rawPipeConn wraps a raw pipe handle for PeerOf, which needs only Fd.
type rawPipeConn struct {
	net.Conn
	handle windows.Handle
}

func (c rawPipeConn) Fd() uintptr { return uintptr(c.handle) }

// TestPeerOfRawPipe checks PeerOf on a pipe made with CreateNamedPipe
// directly, without go-winio, so that it also runs under Wine.
func TestPeerOfRawPipe(t *testing.T) {
	name, err := windows.UTF16PtrFromString(fmt.Sprintf(`\\.\pipe\vmgenie-test-raw-%d`, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	server, err := windows.CreateNamedPipe(name, windows.PIPE_ACCESS_DUPLEX,
		windows.PIPE_TYPE_BYTE|windows.PIPE_WAIT, 1, 4096, 4096, 0, nil)
	if err != nil {
		t.Fatalf("CreateNamedPipe: %v", err)
	}
	defer windows.CloseHandle(server)
	client, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		t.Fatalf("open the pipe as a client: %v", err)
	}
	defer windows.CloseHandle(client)
	if err := windows.ConnectNamedPipe(server, nil); err != nil && err != windows.ERROR_PIPE_CONNECTED {
		t.Fatalf("ConnectNamedPipe: %v", err)
	}

	peer, err := PeerOf(rawPipeConn{handle: server})
	if err != nil {
		t.Fatalf("PeerOf: %v", err)
	}
	if peer.PID != os.Getpid() {
		t.Errorf("peer PID = %d, want %d", peer.PID, os.Getpid())
	}
	if !strings.HasPrefix(peer.SID, "S-1-") || peer.User == "" {
		t.Errorf("peer SID %q, User %q: want a SID and a user name", peer.SID, peer.User)
	}
	if peer.UID != -1 || peer.GID != -1 {
		t.Errorf("peer UID %d, GID %d: want -1 on Windows", peer.UID, peer.GID)
	}
	t.Logf("peer: %+v", peer)
}

func TestPeerOfRejectsOtherConns(t *testing.T) {
	if _, err := PeerOf(rawPipeConn{}); err == nil {
		t.Error("PeerOf on a zero handle succeeded, want an error")
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
