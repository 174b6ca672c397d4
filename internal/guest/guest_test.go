package guest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// fakeGuest is an SSH server on loopback whose exec requests are handled by
// a function, standing in for a booting VM.
type fakeGuest struct {
	addr    string
	hostKey ssh.Signer
	mu      sync.Mutex
	handle  func(cmd string) (stdout string, code uint32)
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startFakeGuest(t *testing.T, clientKey ssh.PublicKey, handle func(string) (string, uint32)) *fakeGuest {
	t.Helper()
	g := &fakeGuest{hostKey: newSigner(t), handle: handle}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, io.EOF
		},
	}
	cfg.AddHostKey(g.hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	g.addr = ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go g.serve(conn, cfg)
		}
	}()
	return g
}

func (g *fakeGuest) setHandler(h func(string) (string, uint32)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handle = h
}

func (g *fakeGuest) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "exec" {
					req.Reply(false, nil)
					continue
				}
				cmd := string(req.Payload[4:])
				req.Reply(true, nil)
				g.mu.Lock()
				out, code := g.handle(cmd)
				g.mu.Unlock()
				io.WriteString(ch, out)
				status := make([]byte, 4)
				binary.BigEndian.PutUint32(status, code)
				ch.SendRequest("exit-status", false, status)
				return
			}
		}()
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestWaitSSHAndRunExitCode(t *testing.T) {
	clientKey := newSigner(t)
	g := startFakeGuest(t, clientKey.PublicKey(), func(cmd string) (string, uint32) {
		if cmd == "false" {
			return "", 1
		}
		return "hello\n", 0
	})
	target := Target{Name: "demo", Address: g.addr, User: "genie", Signer: clientKey, HostKey: g.hostKey.PublicKey()}
	client, err := WaitSSH(context.Background(), target, 5*time.Second, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	res, err := Run(context.Background(), client, "echo hello")
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "hello\n" || res.ExitCode != 0 {
		t.Errorf("Run(echo) = %q exit %d, want \"hello\\n\" exit 0", res.Stdout, res.ExitCode)
	}
	res, err = Run(context.Background(), client, "false")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 1 {
		t.Errorf("Run(false) exit = %d, want 1", res.ExitCode)
	}
}

func TestWaitSSHHostKeyMismatchStopsAtOnce(t *testing.T) {
	clientKey := newSigner(t)
	g := startFakeGuest(t, clientKey.PublicKey(), func(string) (string, uint32) { return "", 0 })
	target := Target{Name: "demo", Address: g.addr, User: "genie", Signer: clientKey, HostKey: newSigner(t).PublicKey()}
	start := time.Now()
	_, err := WaitSSH(context.Background(), target, 30*time.Second, quietLogger())
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("err = %v, want a host key mismatch", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("mismatch took %s, want no retries", time.Since(start))
	}
}

func TestWaitSSHTimeoutNamesSerialLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	old := PollInterval
	PollInterval = 50 * time.Millisecond
	defer func() { PollInterval = old }()
	target := Target{Name: "demo", Address: addr, User: "genie", Signer: newSigner(t), SerialLog: "/data/cloud/demo/serial.log"}
	_, err = WaitSSH(context.Background(), target, 300*time.Millisecond, quietLogger())
	if err == nil {
		t.Fatal("WaitSSH succeeded with nothing listening")
	}
	for _, want := range []string{"did not respond within 300ms", "/data/cloud/demo/serial.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
}

func TestWaitCloudInitIgnoresEarlierBoot(t *testing.T) {
	old := PollInterval
	PollInterval = 20 * time.Millisecond
	defer func() { PollInterval = old }()
	clientKey := newSigner(t)
	var polls, statusCalls int
	g := startFakeGuest(t, clientKey.PublicKey(), nil)
	g.setHandler(func(cmd string) (string, uint32) {
		switch cmd {
		case readinessScript:
			polls++
			if polls < 3 {
				return "iid-old-boot\n{\"v1\": {\"errors\": []}}\n", 0 // a marker from an earlier instance
			}
			return "iid-new\n{\"v1\": {\"datasource\": \"DataSourceNoCloud\", \"errors\": []}}\n", 0
		case "cloud-init status --long":
			statusCalls++
			return "status: done\n", 0
		}
		return "", 127
	})
	target := Target{Name: "demo", Address: g.addr, User: "genie", Signer: clientKey}
	client, err := WaitSSH(context.Background(), target, 5*time.Second, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	status, err := WaitCloudInit(context.Background(), client, target, "iid-new", 5*time.Second, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if status != "status: done" {
		t.Errorf("status = %q, want \"status: done\"", status)
	}
	if polls < 3 {
		t.Errorf("polled %d times, want it to wait past the earlier boot's marker", polls)
	}
	if statusCalls != 0 {
		t.Errorf("ran cloud-init status %d times, want none when result.json has no errors", statusCalls)
	}
}

func TestWaitCloudInitReportsErrorsAndTimeout(t *testing.T) {
	old := PollInterval
	PollInterval = 20 * time.Millisecond
	defer func() { PollInterval = old }()
	clientKey := newSigner(t)
	g := startFakeGuest(t, clientKey.PublicKey(), func(cmd string) (string, uint32) {
		switch cmd {
		case readinessScript:
			return "iid-1\n{\"v1\": {\"errors\": [\"('timezone', OSError('Invalid timezone'))\"]}}\n", 0
		case "cloud-init status --long":
			return "status: error\n", 1
		}
		return "", 127
	})
	target := Target{Name: "demo", Address: g.addr, User: "genie", Signer: clientKey, SerialLog: "/x/serial.log"}
	client, err := WaitSSH(context.Background(), target, 5*time.Second, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_, err = WaitCloudInit(context.Background(), client, target, "iid-1", 5*time.Second, quietLogger())
	if err == nil || !strings.Contains(err.Error(), "finished with errors") || !strings.Contains(err.Error(), "status: error") {
		t.Errorf("err = %v, want cloud-init errors reported with its status", err)
	}
	_, err = WaitCloudInit(context.Background(), client, target, "iid-never", 200*time.Millisecond, quietLogger())
	if err == nil || !strings.Contains(err.Error(), "cloud-init did not finish within 200ms; see /x/serial.log") {
		t.Errorf("err = %v, want the timeout message naming the serial log", err)
	}
}

func TestDialCancelAbortsStalledHandshake(t *testing.T) {
	// A listener that accepts and never speaks, as a port forward to a
	// guest that is still booting can.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = Dial(ctx, Target{Name: "demo", Address: ln.Addr().String(), User: "genie", Signer: newSigner(t)})
	if err == nil {
		t.Fatal("Dial succeeded against a silent server")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Dial returned after %s, want it to stop soon after the cancel", elapsed)
	}
}

func TestWaitCloudInitWithoutResultFileAsksStatus(t *testing.T) {
	clientKey := newSigner(t)
	g := startFakeGuest(t, clientKey.PublicKey(), func(cmd string) (string, uint32) {
		switch cmd {
		case readinessScript:
			return "iid-1\n", 0 // an old cloud-init that writes no result.json
		case "cloud-init status --long":
			return "status: done\n", 0
		}
		return "", 127
	})
	target := Target{Name: "demo", Address: g.addr, User: "genie", Signer: clientKey}
	client, err := WaitSSH(context.Background(), target, 5*time.Second, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	status, err := WaitCloudInit(context.Background(), client, target, "iid-1", 5*time.Second, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if status != "status: done" {
		t.Errorf("status = %q, want the output of cloud-init status", status)
	}
}
