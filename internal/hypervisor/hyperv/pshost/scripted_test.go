package pshost_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// scriptedStarter starts processes that write fixed stdout and stderr text
// and exit with a fixed code, for the runner's edge cases. A stdout line
// "RESPONSE ok" or "RESPONSE fail" becomes a response to the request.
type scriptedStarter struct {
	stdout   []string
	stderr   string
	exitCode int
}

func (s scriptedStarter) Start(cmd pshost.Command) (pshost.Process, error) {
	p := &scriptedProcess{code: s.exitCode, done: make(chan struct{})}
	var outR, errR *io.PipeReader
	outR, p.outW = io.Pipe()
	errR, p.errW = io.Pipe()
	p.outR, p.errR = outR, errR
	inR, inW := io.Pipe()
	p.in = inW
	go func() {
		id := int64(0)
		br := newLineReader(inR)
		for _, line := range s.stdout {
			if strings.HasPrefix(line, "RESPONSE ") && cmd.Env == nil {
				req := br.next()
				id = req.ID
			}
			switch line {
			case "RESPONSE ok":
				line = `{"id":` + itoa(id) + `,"ok":true,"result":{"switches":[]}}`
			case "RESPONSE fail":
				line = `{"id":` + itoa(id) + `,"ok":false,"error":{"kind":"failed","message":"boom"}}`
			}
			io.WriteString(p.outW, line+"\n")
		}
		io.WriteString(p.errW, s.stderr)
		p.outW.Close()
		p.errW.Close()
		close(p.done)
	}()
	return p, nil
}

type scriptedProcess struct {
	in         io.WriteCloser
	outR, errR io.Reader
	outW, errW *io.PipeWriter
	code       int
	done       chan struct{}
	once       sync.Once
}

func (p *scriptedProcess) Stdin() io.WriteCloser { return p.in }
func (p *scriptedProcess) Stdout() io.Reader     { return p.outR }
func (p *scriptedProcess) Stderr() io.Reader     { return p.errR }
func (p *scriptedProcess) PID() int              { return 4242 }
func (p *scriptedProcess) Wait() (int, error)    { <-p.done; return p.code, nil }
func (p *scriptedProcess) Kill() error {
	p.once.Do(func() { p.outW.CloseWithError(io.ErrClosedPipe); p.errW.CloseWithError(io.ErrClosedPipe) })
	return nil
}

type lineReader struct {
	r   io.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader { return &lineReader{r: r} }

// next reads one request line; the host writes one request per call.
func (l *lineReader) next() pshost.Request {
	for {
		if i := strings.IndexByte(string(l.buf), '\n'); i >= 0 {
			line := l.buf[:i]
			l.buf = l.buf[i+1:]
			var req pshost.Request
			_ = jsonUnmarshal(line, &req)
			return req
		}
		chunk := make([]byte, 4096)
		n, err := l.r.Read(chunk)
		l.buf = append(l.buf, chunk[:n]...)
		if err != nil {
			return pshost.Request{}
		}
	}
}

const readyLine = `{"ready":true,"protocol":1,"ps_version":"5.1.19041.1","pid":4242}`

func TestHostSkipsStrayLines(t *testing.T) {
	starter := scriptedStarter{stdout: []string{
		"WARNING: a module printed this before the ready line",
		readyLine,
		"Name  State",
		`{"not":"a response"}`,
		"RESPONSE ok",
	}}
	h := newHost(t, starter, pshost.Config{})
	if err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{Mode: pshost.ModeHost}); err != nil {
		t.Fatalf("call with stray output lines: %v", err)
	}
}

func TestHostWrongProtocolRejected(t *testing.T) {
	starter := scriptedStarter{stdout: []string{`{"ready":true,"protocol":99}`}}
	h := newHost(t, starter, pshost.Config{})
	err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{Mode: pshost.ModeHost})
	if err == nil || !strings.Contains(err.Error(), "protocol 99") {
		t.Errorf("err = %v, want a protocol mismatch", err)
	}
}

func TestOneShotOutcomes(t *testing.T) {
	clixml := "#< CLIXML\n" + `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">Hyper-V\Get-VM : You do not have the required permission_x000D__x000A_</S></Objs>` + "\n"
	cases := []struct {
		name      string
		starter   scriptedStarter
		wantErr   string // empty means success
		rejectErr string // text the error must not contain
	}{
		{"ok and exit 0", scriptedStarter{stdout: []string{`{"id":0,"ok":true,"result":{}}`}}, "", ""},
		{"failure and exit 1", scriptedStarter{stdout: []string{`{"id":0,"ok":false,"error":{"kind":"failed","message":"boom"}}`}, exitCode: 1}, "boom", ""},
		{"ok but exit 1", scriptedStarter{stdout: []string{`{"id":0,"ok":true,"result":{}}`}, exitCode: 1}, "reported success but exited with code 1", ""},
		{"failure but exit 0", scriptedStarter{stdout: []string{`{"id":0,"ok":false,"error":{"message":"boom"}}`}}, "but exited with code 0", ""},
		{"no response", scriptedStarter{stderr: clixml, exitCode: 1}, "You do not have the required permission", "_x000D_"},
		{"stderr does not decide", scriptedStarter{stdout: []string{`{"id":0,"ok":true,"result":{}}`}, stderr: clixml}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.starter, pshost.Config{})
			err := h.Call(context.Background(), scripts.ListSwitches, struct{}{}, nil, pshost.CallOptions{Mode: pshost.ModeOneShot})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.rejectErr != "" && strings.Contains(err.Error(), tc.rejectErr) {
				t.Errorf("err = %v, must not contain %q", err, tc.rejectErr)
			}
		})
	}
}

func TestOneShotRequestTooLarge(t *testing.T) {
	h := newHost(t, scriptedStarter{}, pshost.Config{})
	input := map[string]string{"name": strings.Repeat("x", pshost.MaxEnvValue)}
	err := h.Call(context.Background(), scripts.GetVM, input, nil, pshost.CallOptions{Mode: pshost.ModeOneShot})
	if err == nil || !strings.Contains(err.Error(), "only the long-lived PowerShell host can send it") {
		t.Errorf("err = %v, want the request-size error", err)
	}
}
