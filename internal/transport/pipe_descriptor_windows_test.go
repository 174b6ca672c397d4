//go:build windows

package transport

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/vmgenie/vmgenie/internal/winetest"
)

// listenPrimed listens on a fresh pipe and primes it, so that it serves
// clients under Wine as on Windows.
func listenPrimed(t *testing.T, name string) (string, func()) {
	t.Helper()
	address := fmt.Sprintf(`\\.\pipe\vmgenie-test-%s-%d`, name, os.Getpid())
	ln, err := Listen(ListenConfig{Address: address})
	if err != nil {
		t.Fatalf("Listen(%s): %v", address, err)
	}
	if err := winetest.PrimePipe(address); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go echoLine(conn)
		}
	}()
	return address, func() { ln.Close() }
}

// echoLine writes back the first line that the client sends.
func echoLine(conn interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	Close() error
}) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	_, _ = conn.Write([]byte(line))
}

// TestPrimedPipeRoundTrip sends lines through Listen and Dial on several
// connections in turn, as clients of the service do.
func TestPrimedPipeRoundTrip(t *testing.T) {
	address, stop := listenPrimed(t, "echo")
	defer stop()

	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := Dial(ctx, address)
		cancel()
		if err != nil {
			t.Fatalf("Dial %d: %v", i, err)
		}
		want := fmt.Sprintf("{\"id\": \"r%d\", \"text\": \"héllo\"}\n", i)
		if _, err := conn.Write([]byte(want)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		got, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil {
			t.Fatalf("ReadString %d: %v", i, err)
		}
		if got != want {
			t.Errorf("connection %d echoed %q, want %q", i, got, want)
		}
	}
}

// TestPipeDescriptorReadBack reads the security descriptor of a listening
// pipe through a client handle and compares its DACL with PipeSDDL. Wine
// stores the descriptor but does not check it on open, so reading it back
// is how the tests there see that Listen set it.
func TestPipeDescriptorReadBack(t *testing.T) {
	address, stop := listenPrimed(t, "sd")
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := Dial(ctx, address)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	handle := windows.Handle(conn.(handleConn).Fd())

	got, err := windows.GetSecurityInfo(handle, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("GetSecurityInfo on the pipe: %v", err)
	}
	want, err := windows.SecurityDescriptorFromString(PipeSDDL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pipe descriptor read back: %s", got.String())

	control, _, err := got.Control()
	if err != nil {
		t.Fatalf("Control: %v", err)
	}
	if control&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("the pipe's DACL is not protected (control %#x), want SE_DACL_PROTECTED as in %s", control, PipeSDDL)
	}
	gotACEs, err := fileACEs(got)
	if err != nil {
		t.Fatal(err)
	}
	wantACEs, err := fileACEs(want)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotACEs) != fmt.Sprint(wantACEs) {
		t.Errorf("pipe DACL = %v, want %v", gotACEs, wantACEs)
	}
}

// ace is an access-allowed ACE with its generic rights mapped to file
// rights, because Windows maps them when it stores a descriptor and a
// descriptor string keeps them generic.
type ace struct {
	sid  string
	mask windows.ACCESS_MASK
}

func (a ace) String() string { return fmt.Sprintf("%s:%#x", a.sid, uint32(a.mask)) }

// fileAllAccess is FILE_ALL_ACCESS of winnt.h, which x/sys/windows lacks.
const fileAllAccess = windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff

// fileMapping is the generic mapping of files and pipes.
var fileMapping = [4]windows.ACCESS_MASK{
	windows.FILE_GENERIC_READ, windows.FILE_GENERIC_WRITE, windows.FILE_GENERIC_EXECUTE, fileAllAccess,
}

func mapGeneric(mask windows.ACCESS_MASK) windows.ACCESS_MASK {
	generic := []windows.ACCESS_MASK{windows.GENERIC_READ, windows.GENERIC_WRITE, windows.GENERIC_EXECUTE, windows.GENERIC_ALL}
	for i, g := range generic {
		if mask&g != 0 {
			mask = mask&^g | fileMapping[i]
		}
	}
	return mask
}

func fileACEs(sd *windows.SECURITY_DESCRIPTOR) ([]ace, error) {
	dacl, _, err := sd.DACL()
	if err != nil {
		return nil, fmt.Errorf("reading the DACL of %s failed: %w", sd, err)
	}
	var aces []ace
	for i := range uint32(dacl.AceCount) {
		var entry *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &entry); err != nil {
			return nil, fmt.Errorf("reading ACE %d of %s failed: %w", i, sd, err)
		}
		if entry.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			return nil, fmt.Errorf("ACE %d of %s has type %d, want access allowed", i, sd, entry.Header.AceType)
		}
		sid := (*windows.SID)(unsafe.Pointer(&entry.SidStart))
		aces = append(aces, ace{sid: sid.String(), mask: mapGeneric(entry.Mask)})
	}
	return aces, nil
}
