package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/client"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/service"
	"github.com/vmgenie/vmgenie/internal/transport"
)

func init() { commandFactories = append(commandFactories, newCallCommand) }

// Exit codes of vmgenie call.
const (
	// exitErrorResponse: the service responded with status error.
	exitErrorResponse = 2
)

// serviceFlags is the --socket flag of every command that talks to the
// service.
type serviceFlags struct {
	socket string
}

func (f *serviceFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.socket, "socket", "",
		"service socket or pipe (default $"+transport.AddressEnv+", else the user socket when it exists, else the system socket)")
}

func (f *serviceFlags) client() *client.Client {
	return client.New(f.socket)
}

// callFlags holds the flags of vmgenie call.
type callFlags struct {
	service serviceFlags
	params  []string
	json    string
	stream  bool
	timeout time.Duration
}

func newCallCommand(a *app) *cobra.Command {
	var flags callFlags
	cmd := &cobra.Command{
		Use:   "call COMMAND",
		Short: "Send one request to the service and print the response lines",
		Long: `Send one request to the service and print each response line as JSON, for
scripts. Parameters come from --json (a JSON object), then --param NAME=VALUE
pairs override them. --param converts VALUE to the parameter's declared type,
which it asks the service for: integer, number, boolean, a comma-separated
string-list, or JSON for object and array.

Exit status: 0 when the final response is ok, 2 when it is an error, 1 when
the request could not be sent or answered.`,
		Example: `  vmgenie call status
  vmgenie call help
  vmgenie call provision --param template=ubuntu-24.04 --param vm_name=testvm
  vmgenie call operation.get --param operation_id=op-3f2a9c0d1e4b5a69 --stream`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd.Context(), a, &flags, args[0])
		},
	}
	flags.service.register(cmd)
	cmd.Flags().StringArrayVarP(&flags.params, "param", "p", nil, "parameter as NAME=VALUE; repeat for more")
	cmd.Flags().StringVar(&flags.json, "json", "", "parameters as one JSON object, such as '{\"vm_name\":\"testvm\"}'")
	cmd.Flags().BoolVar(&flags.stream, "stream", false, "ask for progress lines before the final response")
	cmd.Flags().DurationVar(&flags.timeout, "timeout", 0, "give up after this long, such as 30s (default: no limit)")
	return cmd
}

func runCall(ctx context.Context, a *app, flags *callFlags, command string) error {
	if flags.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flags.timeout)
		defer cancel()
	}
	c := flags.service.client()

	params := map[string]any{}
	if flags.json != "" {
		if err := json.Unmarshal([]byte(flags.json), &params); err != nil || params == nil {
			return fmt.Errorf("invalid --json %q: give one JSON object, such as '{\"vm_name\":\"testvm\"}'", flags.json)
		}
	}
	if len(flags.params) > 0 {
		schema := fetchParamTypes(ctx, c, command)
		for _, pair := range flags.params {
			name, value, err := parseParam(pair, schema)
			if err != nil {
				return err
			}
			params[name] = value
		}
	}

	resp, err := c.Do(ctx, command, params, flags.stream, func(line protocol.Response) {
		a.stdout.Write(line.Marshal())
	})
	var protoErr *protocol.Error
	if errors.As(err, &protoErr) && resp.Status == protocol.StatusError {
		a.stdout.Write(resp.Marshal())
		return &exitCodeError{code: exitErrorResponse, err: protoErr}
	}
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(resp.Marshal())
	return err
}

// fetchParamTypes reads command's parameter types from the service's help
// command. It returns nil when help fails, and then every value is sent as
// a string.
func fetchParamTypes(ctx context.Context, c *client.Client, command string) map[string]protocol.Type {
	resp, err := c.Call(ctx, "help", map[string]any{"command": command})
	if err != nil {
		return nil
	}
	var help service.HelpData
	if json.Unmarshal(resp.Data, &help) != nil || len(help.Commands) != 1 {
		return nil
	}
	types := map[string]protocol.Type{}
	for _, p := range help.Commands[0].Params {
		types[p.Name] = p.Type
	}
	return types
}

// parseParam splits NAME=VALUE and converts VALUE to the declared type. An
// undeclared name keeps a string value, and the service rejects it.
func parseParam(pair string, types map[string]protocol.Type) (string, any, error) {
	name, value, ok := strings.Cut(pair, "=")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("invalid --param %q: write it as NAME=VALUE, such as vm_name=testvm", pair)
	}
	invalid := func(what string) error {
		return fmt.Errorf("invalid --param %s=%q: parameter %q is %s", name, value, name, what)
	}
	switch types[name] {
	case protocol.TypeInteger:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return "", nil, invalid("an integer, such as 2")
		}
		return name, n, nil
	case protocol.TypeNumber:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return "", nil, invalid("a number, such as 1.5")
		}
		return name, f, nil
	case protocol.TypeBoolean:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return "", nil, invalid("a boolean: true or false")
		}
		return name, b, nil
	case protocol.TypeStringList:
		if value == "" {
			return name, []string{}, nil
		}
		return name, strings.Split(value, ","), nil
	case protocol.TypeObject, protocol.TypeArray:
		var v any
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			return "", nil, invalid("JSON " + string(types[name]) + ", such as {} or []")
		}
		return name, v, nil
	default:
		return name, value, nil
	}
}
