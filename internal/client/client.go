// Package client calls the vmgenie service: it dials the socket or pipe,
// sends one request line, reads the response lines and closes the
// connection, as the protocol requires.
package client

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"syscall"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/transport"
)

// MaxResponseBytes bounds one response line. Responses that carry rendered
// seed data are the largest; this leaves room for them.
const MaxResponseBytes = 64 << 20

// ErrNotRunning is wrapped by errors returned when no service listens at
// the address.
var ErrNotRunning = transport.ErrNotRunning

// Client sends requests to one service address.
type Client struct {
	// Address is the socket path or pipe name.
	Address string
	// Dial opens a connection; nil means transport.Dial.
	Dial func(ctx context.Context, address string) (net.Conn, error)
}

// New returns a client for address. An empty address means DefaultAddress().
func New(address string) *Client {
	if address == "" {
		address = DefaultAddress()
	}
	return &Client{Address: address}
}

// DefaultAddress returns $VMGENIE_SOCKET when set. Otherwise it returns the
// user-mode socket if that socket exists (Unix only), else the system socket
// or pipe.
func DefaultAddress() string {
	if env := os.Getenv(transport.AddressEnv); env != "" {
		return env
	}
	if runtime.GOOS != "windows" {
		user := transport.DefaultAddress(true)
		if info, err := os.Stat(user); err == nil && info.Mode().Type() == fs.ModeSocket {
			return user
		}
	}
	return transport.DefaultAddress(false)
}

// Call sends command with params and returns the final response. When the
// response has status error, the error is the *protocol.Error it carries
// and the response is returned too. params may be nil, a map, or any value
// that encodes to a JSON object.
func (c *Client) Call(ctx context.Context, command string, params any) (protocol.Response, error) {
	return c.Do(ctx, command, params, false, nil)
}

// CallStream is Call with "stream": true: onProgress receives each progress
// line before the final response.
func (c *Client) CallStream(ctx context.Context, command string, params any, onProgress func(protocol.Progress)) (protocol.Response, error) {
	return c.Do(ctx, command, params, true, func(r protocol.Response) {
		if onProgress == nil {
			return
		}
		var p protocol.Progress
		if err := json.Unmarshal(r.Data, &p); err == nil {
			onProgress(p)
		}
	})
}

// Do sends one request and returns the final response. Each progress line
// goes to onLine. ctx's deadline bounds the whole exchange, and canceling
// ctx closes the connection.
func (c *Client) Do(ctx context.Context, command string, params any, stream bool, onLine func(protocol.Response)) (protocol.Response, error) {
	line, id, err := encodeRequest(command, params, stream)
	if err != nil {
		return protocol.Response{}, err
	}
	return c.Exchange(ctx, line, id, onLine)
}

// Exchange sends an encoded request line (a trailing "\n" is added when
// missing) and reads the response lines. wantID, when not empty, must match
// the id of every response line. It returns the final response; a final
// response with status error also returns its *protocol.Error.
func (c *Client) Exchange(ctx context.Context, line []byte, wantID string, onLine func(protocol.Response)) (protocol.Response, error) {
	dial := c.Dial
	if dial == nil {
		dial = transport.Dial
	}
	conn, err := dial(ctx, c.Address)
	if err != nil {
		return protocol.Response{}, explainDialError(c.Address, err)
	}
	defer conn.Close()

	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return protocol.Response{}, fmt.Errorf("setting the deadline on %s failed: %w", c.Address, err)
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if len(line) == 0 || line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	if _, err := conn.Write(line); err != nil {
		return protocol.Response{}, c.ioError(ctx, "sending the request", err)
	}

	reader := bufio.NewReaderSize(conn, 4096)
	for {
		resp, err := readResponse(reader)
		if err != nil {
			return protocol.Response{}, c.ioError(ctx, "reading the response", err)
		}
		if wantID != "" && resp.ID != wantID {
			return resp, fmt.Errorf("the service at %s sent a response with id %q to request %q: it may be a different program or version", c.Address, resp.ID, wantID)
		}
		switch resp.Status {
		case protocol.StatusProgress:
			if onLine != nil {
				onLine(resp)
			}
		case protocol.StatusOK:
			return resp, nil
		case protocol.StatusError:
			return resp, resp.Err()
		default:
			return resp, fmt.Errorf("the service at %s sent the unknown status %q", c.Address, resp.Status)
		}
	}
}

func readResponse(r *bufio.Reader) (protocol.Response, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxResponseBytes {
			return protocol.Response{}, fmt.Errorf("a response line is longer than %d bytes", MaxResponseBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return protocol.Response{}, errors.New("the service closed the connection before the final response")
			}
			return protocol.Response{}, err
		}
		break
	}
	var resp protocol.Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return protocol.Response{}, fmt.Errorf("the service sent a line that is not a valid response (%v): %.200q", err, line)
	}
	return resp, nil
}

// ioError reports a failed read or write, preferring the context's error
// because closing the connection on cancel shows up as a read error.
func (c *Client) ioError(ctx context.Context, action string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s from %s stopped: %w", action, c.Address, ctxErr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%s from %s timed out: %w", action, c.Address, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s from %s failed: %w", action, c.Address, err)
}

// explainDialError turns a failed dial into advice: start the service, or
// get access to it.
func explainDialError(address string, err error) error {
	switch {
	case errors.Is(err, transport.ErrNotRunning) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		return &NotRunningError{Address: address, Err: err}
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("permission denied on the vmgenie service at %s: %s: %w", address, permissionHint(), err)
	}
	return fmt.Errorf("connecting to the vmgenie service at %s failed: %w", address, err)
}

func permissionHint() string {
	if runtime.GOOS == "windows" {
		return "run the command as a member of Administrators or Hyper-V Administrators"
	}
	return "add your user to group vmgenie (\"usermod -aG vmgenie $USER\", then log in again), or run your own service with \"vmgenie serve --user\""
}

// NotRunningError reports that no service listens at Address.
type NotRunningError struct {
	Address string
	Err     error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("the vmgenie service is not running at %s: start it with \"vmgenie serve\" in a terminal, or \"vmgenie service start\" to run it in the background; set --socket or %s if it listens elsewhere",
		e.Address, transport.AddressEnv)
}

func (e *NotRunningError) Unwrap() []error { return []error{ErrNotRunning, e.Err} }

// encodeRequest builds the request line with a fresh id.
func encodeRequest(command string, params any, stream bool) ([]byte, string, error) {
	if params == nil {
		params = map[string]any{}
	}
	encodedParams, err := json.Marshal(params)
	if err != nil {
		return nil, "", fmt.Errorf("encoding the parameters of %q failed: %w", command, err)
	}
	if len(encodedParams) == 0 || encodedParams[0] != '{' {
		return nil, "", fmt.Errorf("the parameters of %q must encode to a JSON object, got %.40s", command, encodedParams)
	}
	id := NewID()
	line, err := json.Marshal(struct {
		ID         string          `json:"id"`
		Command    string          `json:"command"`
		Parameters json.RawMessage `json:"parameters"`
		Stream     bool            `json:"stream,omitempty"`
	}{id, command, encodedParams, stream})
	if err != nil {
		return nil, "", fmt.Errorf("encoding the request %q failed: %w", command, err)
	}
	return line, id, nil
}

// NewID returns a random request id.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // Since Go 1.24, crypto/rand.Read never returns an error.
	return hex.EncodeToString(b[:])
}
