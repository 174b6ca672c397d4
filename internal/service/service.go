// Package service runs vmgenie's request server: it accepts connections on
// a listener from internal/transport, reads one JSON request line from each,
// checks the caller and the parameters, runs the command and writes the
// response lines.
//
// We wrote the accept loop and dispatcher ourselves instead of using
// net/rpc, gRPC or a JSON-RPC library, because the wire format is vmgenie's
// own line protocol (see internal/protocol). Each connection also needs
// limits that those libraries do not enforce per request line: a maximum
// line length, a deadline for the line to arrive, a connection cap where
// extra clients wait, and peer credentials checked before dispatch.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/transport"
	"github.com/vmgenie/vmgenie/internal/version"
)

// Default limits.
const (
	DefaultMaxRequestBytes    = 1 << 20 // 1 MiB
	DefaultRequestTimeout     = 10 * time.Second
	DefaultMaxConnections     = 64
	DefaultShutdownTimeout    = 30 * time.Second
	DefaultOperationRetention = time.Hour
)

// Options configures a Server. Zero values select the defaults above.
type Options struct {
	// MaxRequestBytes is the longest request line accepted, without its
	// "\n". A longer line gets too_large.
	MaxRequestBytes int64
	// RequestTimeout is how long a client may take to send its request line
	// after the service starts serving its connection. A slower client gets
	// timeout. The same deadline applies to writing each response line.
	RequestTimeout time.Duration
	// MaxConnections is how many connections are served at once. Further
	// clients wait in the listen queue until a slot is free.
	MaxConnections int
	// ShutdownTimeout is how long requests and operations in flight may run
	// after shutdown begins. Then their contexts are canceled and their
	// connections closed.
	ShutdownTimeout time.Duration
	// OperationRetention is how long a finished operation stays visible to
	// operation.get.
	OperationRetention time.Duration

	// Logger receives the service's log, including one line per request.
	// Nil discards it.
	Logger *slog.Logger
	// Authorizer checks each caller before its request runs. Nil allows
	// every caller that can open the socket.
	Authorizer transport.Authorizer
	// Version is reported by status. The zero value means version.Get().
	Version version.Info
	// Driver names the hypervisor driver for status. Empty means "none".
	Driver string
	// Provisioner runs provision requests. Nil makes provision
	// respond with unavailable after validating its parameters.
	Provisioner Provisioner
}

func (o Options) withDefaults() Options {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.OperationRetention <= 0 {
		o.OperationRetention = DefaultOperationRetention
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version.Version == "" {
		o.Version = version.Get()
	}
	if o.Driver == "" {
		o.Driver = "none"
	}
	return o
}

// Server serves vmgenie requests. Create it with New, add commands with
// Register, then call Serve.
type Server struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	mu       sync.Mutex
	commands map[string]protocol.Command
	conns    map[net.Conn]struct{}
	serving  bool

	// requestCtx is the parent of every handler's context. It is canceled
	// when the shutdown deadline passes.
	requestCtx    context.Context
	cancelRequest context.CancelFunc

	ops *Operations
}

// New returns a Server with the built-in commands registered: help, status,
// provision, operation.get, operation.list and operation.cancel.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	requestCtx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:          opts,
		log:           opts.Logger,
		started:       time.Now(),
		commands:      map[string]protocol.Command{},
		conns:         map[net.Conn]struct{}{},
		requestCtx:    requestCtx,
		cancelRequest: cancel,
		ops:           newOperations(opts.OperationRetention, opts.Logger),
	}
	for _, cmd := range s.builtinCommands() {
		if err := s.Register(cmd); err != nil {
			panic(err) // The built-in commands are fixed, so this is a bug.
		}
	}
	return s
}

// Register adds a command. It fails when the name is empty or taken, when
// the handler is nil, or when two parameters share a name. Commands may be
// registered while the server runs.
func (s *Server) Register(cmd protocol.Command) error {
	if cmd.Name == "" {
		return errors.New("registering a command failed: the name is empty")
	}
	if cmd.Handler == nil {
		return fmt.Errorf("registering command %q failed: the handler is nil", cmd.Name)
	}
	seen := map[string]bool{}
	for _, p := range cmd.Params {
		if p.Name == "" || seen[p.Name] {
			return fmt.Errorf("registering command %q failed: parameter name %q is empty or repeated", cmd.Name, p.Name)
		}
		seen[p.Name] = true
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.commands[cmd.Name]; exists {
		return fmt.Errorf("registering command %q failed: a command with that name is already registered", cmd.Name)
	}
	s.commands[cmd.Name] = cmd
	return nil
}

// Commands returns the registered commands sorted by name.
func (s *Server) Commands() []protocol.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]protocol.Command, 0, len(s.commands))
	for _, cmd := range s.commands {
		list = append(list, cmd)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

func (s *Server) command(name string) (protocol.Command, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd, ok := s.commands[name]
	return cmd, ok
}

// Operations returns the registry of asynchronous operations, which also
// serializes work per VM. Commands registered from outside use it to run
// long work and to hold a VM while they change it.
func (s *Server) Operations() *Operations { return s.ops }

// Serve accepts connections on ln until ctx is canceled, then shuts down:
// it closes ln, lets requests and operations in flight finish within
// ShutdownTimeout, and returns. It returns nil after a clean shutdown, and
// an error when ln fails or work was cut off at the deadline. Serve may be
// called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("the server is already serving")
	}
	s.serving = true
	s.mu.Unlock()

	s.log.Info("service started", "address", ln.Addr().String(), "pid", os.Getpid(),
		"version", s.opts.Version.Version, "protocol_version", protocol.ProtocolVersion,
		"platform", runtime.GOOS+"/"+runtime.GOARCH, "driver", s.opts.Driver,
		"max_connections", s.opts.MaxConnections, "max_request_bytes", s.opts.MaxRequestBytes,
		"request_timeout", s.opts.RequestTimeout.String())

	stopClosing := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopClosing()

	var inFlight sync.WaitGroup
	acceptErr := s.acceptLoop(ctx, ln, &inFlight)
	ln.Close()

	shutdownErr := s.shutdown(&inFlight)
	if acceptErr != nil {
		s.log.Error("service stopped: accepting connections failed", "error", acceptErr)
		return errors.Join(acceptErr, shutdownErr)
	}
	if shutdownErr != nil {
		s.log.Error("service stopped after the shutdown deadline", "error", shutdownErr)
		return shutdownErr
	}
	s.log.Info("service stopped")
	return nil
}

// acceptLoop accepts connections while a slot is free. It returns nil when
// ctx is canceled and an error when the listener fails for good.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, inFlight *sync.WaitGroup) error {
	slots := make(chan struct{}, s.opts.MaxConnections)
	var backoff time.Duration
	for {
		// Take a slot before accepting, so extra clients wait in the
		// listen queue instead of holding a goroutine each.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}

		conn, err := ln.Accept()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("the listener at %s was closed: %w", ln.Addr(), err)
			}
			// Transient failures such as running out of file descriptors.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accepting a connection failed; retrying", "error", err, "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0

		s.trackConn(conn, true)
		inFlight.Add(1)
		go func() {
			defer func() {
				s.trackConn(conn, false)
				<-slots
				inFlight.Done()
			}()
			s.serveConn(conn)
		}()
	}
}

func (s *Server) trackConn(conn net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[conn] = struct{}{}
	} else {
		delete(s.conns, conn)
	}
}

// shutdown waits for the connections in flight and the running operations.
// At ShutdownTimeout it cancels them and closes their connections.
func (s *Server) shutdown(inFlight *sync.WaitGroup) error {
	s.mu.Lock()
	active := len(s.conns)
	s.mu.Unlock()
	running := s.ops.runningCount()
	s.log.Info("service stopping: listener closed", "requests_in_flight", active,
		"operations_running", running, "shutdown_timeout", s.opts.ShutdownTimeout.String())

	deadline := time.Now().Add(s.opts.ShutdownTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	// Operations get the same deadline. Past it they are canceled and get
	// a short grace period to clean up what they made.
	opsDone := make(chan struct{})
	go func() {
		s.ops.shutdown(ctx)
		close(opsDone)
	}()

	connsDone := make(chan struct{})
	go func() {
		inFlight.Wait()
		close(connsDone)
	}()

	var errs []error
	select {
	case <-connsDone:
	case <-ctx.Done():
		s.mu.Lock()
		cut := len(s.conns)
		for conn := range s.conns {
			conn.Close()
		}
		s.mu.Unlock()
		s.cancelRequest()
		<-connsDone
		errs = append(errs, fmt.Errorf("%d requests were still running after the shutdown timeout of %s and were cut off", cut, s.opts.ShutdownTimeout))
	}
	<-opsDone
	if n := s.ops.runningCount(); n > 0 {
		errs = append(errs, fmt.Errorf("%d operations were still running after the shutdown timeout of %s", n, s.opts.ShutdownTimeout))
	}
	s.cancelRequest()
	return errors.Join(errs...)
}
