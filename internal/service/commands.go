package service

import (
	"context"
	"os"
	"runtime"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
)

func (s *Server) builtinCommands() []protocol.Command {
	operationID := protocol.Param{
		Name: "operation_id", Type: protocol.TypeString, Required: true,
		Description: "the id that provision returned, such as \"op-3f2a9c0d1e4b5a69\"",
	}
	return []protocol.Command{
		{
			Name:    "help",
			Summary: "List the commands with their parameters.",
			Params: []protocol.Param{{
				Name: "command", Type: protocol.TypeString,
				Description: "describe only this command",
			}},
			Handler: s.handleHelp,
		},
		{
			Name:    "status",
			Summary: "Report that the service runs, with its version, protocol version, uptime, driver and platform.",
			Handler: s.handleStatus,
		},
		s.provisionCommand(),
		{
			Name:    "operation.get",
			Summary: "Report an operation's state, stage, percent, and its result or error. With \"stream\": true, send progress lines until it finishes.",
			Params:  []protocol.Param{operationID},
			Streams: true,
			Handler: s.handleOperationGet,
		},
		{
			Name:    "operation.list",
			Summary: "List the running operations and the recently finished ones, newest first.",
			Handler: s.handleOperationList,
		},
		{
			Name:    "operation.cancel",
			Summary: "Ask a running operation to stop and remove what it made.",
			Params:  []protocol.Param{operationID},
			Handler: s.handleOperationCancel,
		},
	}
}

// HelpData is the data of a help response.
type HelpData struct {
	ProtocolVersion int                    `json:"protocol_version"`
	Commands        []protocol.CommandInfo `json:"commands"`
}

func (s *Server) handleHelp(_ context.Context, call *protocol.Call) (any, error) {
	data := HelpData{ProtocolVersion: protocol.ProtocolVersion, Commands: []protocol.CommandInfo{}}
	if name := call.Params.String("command"); name != "" {
		cmd, ok := s.command(name)
		if !ok {
			return nil, protocol.Errorf(protocol.CodeNotFound, "command %q not found: send help without parameters to list all commands", name)
		}
		data.Commands = append(data.Commands, cmd.Info())
		return data, nil
	}
	for _, cmd := range s.Commands() {
		data.Commands = append(data.Commands, cmd.Info())
	}
	return data, nil
}

// StatusData is the data of a status response.
type StatusData struct {
	Details           string  `json:"details"`
	Version           string  `json:"version"`
	Commit            string  `json:"commit,omitempty"`
	ProtocolVersion   int     `json:"protocol_version"`
	Uptime            string  `json:"uptime"`
	UptimeSeconds     float64 `json:"uptime_seconds"`
	Driver            string  `json:"driver"`
	Platform          string  `json:"platform"`
	PID               int     `json:"pid"`
	OperationsRunning int     `json:"operations_running"`
}

// StatusDetails is the details text of a status response.
const StatusDetails = "Service is running."

func (s *Server) handleStatus(context.Context, *protocol.Call) (any, error) {
	uptime := time.Since(s.started)
	return StatusData{
		Details:           StatusDetails,
		Version:           s.opts.Version.Version,
		Commit:            s.opts.Version.Commit,
		ProtocolVersion:   protocol.ProtocolVersion,
		Uptime:            uptime.Round(time.Second).String(),
		UptimeSeconds:     uptime.Seconds(),
		Driver:            s.opts.Driver,
		Platform:          runtime.GOOS + "/" + runtime.GOARCH,
		PID:               os.Getpid(),
		OperationsRunning: s.ops.runningCount(),
	}, nil
}

func (s *Server) handleOperationGet(ctx context.Context, call *protocol.Call) (any, error) {
	id := call.Params.String("operation_id")
	if !call.Stream {
		return s.ops.Get(id)
	}
	return s.ops.Follow(ctx, id, false, call.Progress)
}

func (s *Server) handleOperationList(context.Context, *protocol.Call) (any, error) {
	return map[string]any{"operations": s.ops.List()}, nil
}

func (s *Server) handleOperationCancel(_ context.Context, call *protocol.Call) (any, error) {
	info, err := s.ops.Cancel(call.Params.String("operation_id"), "canceled by "+call.Peer.User)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"details":      "Cancellation of operation " + info.ID + " requested.",
		"operation_id": info.ID,
	}, nil
}
