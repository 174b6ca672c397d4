package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/service"
	"github.com/vmgenie/vmgenie/internal/transport"
)

func init() { commandFactories = append(commandFactories, newServeCommand) }

// serverHooks run after the service options are built and before the
// service starts. A hook may set opts.Provisioner and opts.Driver. It
// returns a function, or nil, that registers its protocol commands on the
// server and does any work that must finish before the listener opens.
// Files that add protocol commands append a hook here from their init
// function.
var serverHooks []func(a *app, opts *service.Options) (func(*service.Server) error, error)

// serveFlags holds the flags of vmgenie serve.
type serveFlags struct {
	socket          string
	user            bool
	group           string
	maxRequestBytes int64
	requestTimeout  time.Duration
	maxConnections  int
	shutdownTimeout time.Duration
}

func (f *serveFlags) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.StringVar(&f.socket, "socket", "",
		"socket path to listen on (default $"+transport.AddressEnv+", else the system or user socket)")
	flags.BoolVar(&f.user, "user", false,
		"run a per-user service: socket mode 0600 in $XDG_RUNTIME_DIR, only your uid and root may connect")
	flags.StringVar(&f.group, "group", transport.DefaultGroup,
		"group that owns the system socket; its members may use the service")
	flags.Int64Var(&f.maxRequestBytes, "max-request-bytes", service.DefaultMaxRequestBytes,
		"longest request line accepted, in bytes")
	flags.DurationVar(&f.requestTimeout, "request-timeout", service.DefaultRequestTimeout,
		"time a client has to send its request line, and to read each response line")
	flags.IntVar(&f.maxConnections, "max-connections", service.DefaultMaxConnections,
		"connections served at once; more clients wait")
	flags.DurationVar(&f.shutdownTimeout, "shutdown-timeout", service.DefaultShutdownTimeout,
		"time requests and operations in flight get to finish after SIGTERM or Ctrl-C")
}

// serviceSetup builds the listener configuration and the service options
// from the flags, into which applyConfig has already copied the config
// file's values for the flags the user did not set.
func (f *serveFlags) serviceSetup(logger *slog.Logger) (transport.ListenConfig, service.Options, error) {
	listen := transport.ListenConfig{
		Address:  transport.ResolveAddress(f.socket, f.user),
		UserMode: f.user,
		Group:    f.group,
	}
	switch {
	case f.maxRequestBytes <= 0:
		return listen, service.Options{}, fmt.Errorf("invalid --max-request-bytes %d: use a positive number of bytes, such as %d", f.maxRequestBytes, service.DefaultMaxRequestBytes)
	case f.requestTimeout <= 0:
		return listen, service.Options{}, fmt.Errorf("invalid --request-timeout %s: use a positive duration, such as 10s", f.requestTimeout)
	case f.maxConnections <= 0:
		return listen, service.Options{}, fmt.Errorf("invalid --max-connections %d: use a positive number, such as %d", f.maxConnections, service.DefaultMaxConnections)
	case f.shutdownTimeout <= 0:
		return listen, service.Options{}, fmt.Errorf("invalid --shutdown-timeout %s: use a positive duration, such as 30s", f.shutdownTimeout)
	}

	authorizer, err := transport.NewAuthorizer(listen)
	if err != nil {
		return listen, service.Options{}, err
	}
	opts := service.Options{
		MaxRequestBytes: f.maxRequestBytes,
		RequestTimeout:  f.requestTimeout,
		MaxConnections:  f.maxConnections,
		ShutdownTimeout: f.shutdownTimeout,
		Logger:          logger,
		Authorizer:      authorizer,
	}
	return listen, opts, nil
}

func newServeCommand(a *app) *cobra.Command {
	var flags serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the vmgenie service in the foreground",
		Long: `Run the vmgenie service in the foreground until SIGTERM or Ctrl-C.

It reads the config file (see --config; a missing default file means the
defaults). Flags given on the command line override the file's values. It
logs to the rotating log file (log.file in the config, by default
<data_dir>/logs/vmgenie.log) and to stderr, at the config's log.level
(default info) unless --log-level says otherwise.

Without --user it listens on the system socket /run/vmgenie/vmgenie.sock
(mode 0660, group vmgenie). With --user it listens on
$XDG_RUNTIME_DIR/vmgenie.sock (mode 0600). --socket or $VMGENIE_SOCKET
choose another path.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServeCommand(cmd, a, &flags)
		},
	}
	flags.register(cmd)
	addServeModeFlags(cmd)
	return cmd
}

func runServe(cmd *cobra.Command, a *app, flags *serveFlags, logger *slog.Logger) error {
	listen, opts, err := flags.serviceSetup(logger)
	if err != nil {
		return err
	}

	var registers []func(*service.Server) error
	for _, hook := range serverHooks {
		register, err := hook(a, &opts)
		if err != nil {
			return err
		}
		if register != nil {
			registers = append(registers, register)
		}
	}
	srv := service.New(opts)
	for _, register := range registers {
		if err := register(srv); err != nil {
			return err
		}
	}

	ln, err := transport.Listen(listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Serve(ctx, ln)
}
