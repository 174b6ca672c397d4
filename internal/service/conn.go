package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/transport"
)

// readerPool recycles the per-connection read buffers, which were most of
// the bytes a status request allocated.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// errLineTooLong is returned by readLine for a line over the limit.
var errLineTooLong = errors.New("request line too long")

// exchange is one connection's request and the lines written back.
type exchange struct {
	s     *Server
	conn  net.Conn
	peer  transport.Peer
	start time.Time

	writeMu sync.Mutex
	writeOK bool // false after a write failed
}

// serveConn reads one request from conn, writes the response lines and
// closes conn.
func (s *Server) serveConn(conn net.Conn) {
	defer conn.Close()
	x := &exchange{s: s, conn: conn, start: time.Now(), writeOK: true}

	peer, peerErr := transport.PeerOf(conn)
	if peerErr != nil {
		peer = transport.Peer{PID: -1, UID: -1, GID: -1, User: "unknown"}
	}
	x.peer = peer

	if err := conn.SetReadDeadline(x.start.Add(s.opts.RequestTimeout)); err != nil {
		s.log.Error("setting the request deadline failed", "error", err, "caller", peer.User)
		return
	}
	reader := readerPool.Get().(*bufio.Reader)
	reader.Reset(conn)
	line, readErr := readLine(reader, s.opts.MaxRequestBytes)
	reader.Reset(nil)
	readerPool.Put(reader)
	// The deadline covers only the request line. Handlers may stream for
	// longer, and each write sets its own deadline.
	_ = conn.SetReadDeadline(time.Time{})

	switch {
	case errors.Is(readErr, errLineTooLong):
		x.finish(protocol.Request{}, nil, protocol.Errorf(protocol.CodeTooLarge,
			"the request line is longer than the limit of %d bytes: send a smaller request, or raise the service's max request size", s.opts.MaxRequestBytes))
		discardInput(conn)
		return
	case errors.Is(readErr, os.ErrDeadlineExceeded):
		x.finish(protocol.Request{}, nil, protocol.Errorf(protocol.CodeTimeout,
			"no complete request line arrived within %s: send one JSON object followed by a newline right after connecting", s.opts.RequestTimeout))
		return
	case readErr != nil:
		if readErr != io.EOF {
			s.log.Warn("reading the request failed", "error", readErr, "caller", peer.User, "pid", peer.PID)
		}
		// The client closed without sending anything, so there is no
		// request to respond to.
		return
	}

	req, decodeErr := protocol.DecodeRequest(line)

	// Check the caller before anything runs, but after decoding, so the
	// rejection can echo the id and command.
	if authErr := s.authorize(peer, peerErr); authErr != nil {
		s.log.Warn("caller rejected", "id", req.ID, "command", req.Command, "caller", peer.User,
			"pid", peer.PID, "uid", peer.UID, "gid", peer.GID, "sid", peer.SID, "reason", authErr.Error())
		x.finish(req, nil, protocol.Errorf(protocol.CodePermissionDenied, "%v", authErr))
		return
	}
	if decodeErr != nil {
		x.finish(req, nil, decodeErr)
		return
	}

	data, err := s.dispatch(req, x)
	x.finish(req, data, err)
}

// authorize applies the Authorizer. A connection whose peer could not be
// identified is rejected whenever an Authorizer is set.
func (s *Server) authorize(peer transport.Peer, peerErr error) error {
	if s.opts.Authorizer == nil {
		return nil
	}
	if peerErr != nil {
		return fmt.Errorf("the caller could not be identified, so access is denied: %w", peerErr)
	}
	return s.opts.Authorizer.Authorize(peer)
}

// dispatch looks up the command, validates the parameters and runs the
// handler, turning a panic into an internal error.
func (s *Server) dispatch(req protocol.Request, x *exchange) (data any, err error) {
	cmd, ok := s.command(req.Command)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeUnknownCommand,
			"unknown command %q: send the command \"help\" to list the commands this service supports", req.Command)
	}
	values, verr := cmd.Validate(req.Parameters)
	if verr != nil {
		return nil, verr
	}

	call := protocol.NewCall(req, values, x.peer, func(p protocol.Progress) error {
		return x.write(protocol.NewResponse(req.ID, req.Command, protocol.StatusProgress, p))
	})

	defer func() {
		if r := recover(); r != nil {
			s.log.Error("command handler panicked", "id", req.ID, "command", req.Command,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			data = nil
			err = protocol.Errorf(protocol.CodeInternal,
				"the service failed while running %q (panic: %v); this is a bug, and the service log has the details", req.Command, r)
		}
	}()
	ctx, cancel := context.WithCancel(s.requestCtx)
	defer cancel()
	return cmd.Handler(ctx, call)
}

// finish writes the final response line and logs the request.
func (x *exchange) finish(req protocol.Request, data any, err error) {
	var resp protocol.Response
	if err != nil {
		resp = protocol.ErrorResponse(req.ID, req.Command, err)
	} else {
		resp = protocol.NewResponse(req.ID, req.Command, protocol.StatusOK, data)
	}
	writeErr := x.write(resp)

	attrs := []any{
		"id", req.ID, "command", req.Command, "caller", x.peer.User, "pid", x.peer.PID,
		"status", resp.Status, "duration", time.Since(x.start).String(),
	}
	level := slog.LevelInfo
	if e := resp.Err(); e != nil {
		attrs = append(attrs, "code", string(e.Code), "message", e.Message)
		if e.Code == protocol.CodeInternal {
			level = slog.LevelError
		}
	}
	if writeErr != nil {
		attrs = append(attrs, "write_error", writeErr.Error())
		level = max(level, slog.LevelWarn)
	}
	x.s.log.Log(context.Background(), level, "request", attrs...)
}

// write sends one response line. After one write fails, later writes fail
// at once, so a handler that streams to a gone client stops waiting on it.
func (x *exchange) write(resp protocol.Response) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if !x.writeOK {
		return errors.New("an earlier write to this client failed")
	}
	if err := x.conn.SetWriteDeadline(time.Now().Add(x.s.opts.RequestTimeout)); err != nil {
		x.writeOK = false
		return err
	}
	if _, err := x.conn.Write(resp.Marshal()); err != nil {
		x.writeOK = false
		return fmt.Errorf("writing the %s response failed: %w", resp.Status, err)
	}
	return nil
}

// Bounds of discardInput.
const (
	discardTimeout = time.Second
	discardBytes   = 16 << 20
)

// discardInput ends the response stream and reads what the client still
// sends, within discardTimeout and discardBytes. Closing a socket with
// unread input resets the connection, and some clients then lose the
// response they have not read yet.
func discardInput(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(discardTimeout))
	_, _ = io.CopyN(io.Discard, conn, discardBytes)
}

// readLine reads up to and excluding "\n". It returns errLineTooLong once
// the line exceeds limit bytes, and on end of input it returns what was
// read with the error, so a final line without "\n" is still served.
func readLine(r *bufio.Reader, limit int64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if int64(len(line)+len(chunk)) > limit+1 {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if int64(len(line)) > limit {
				return nil, errLineTooLong
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			if int64(len(line)) > limit {
				return nil, errLineTooLong
			}
			return line, nil
		default:
			return line, err
		}
	}
}
