// Package protocol defines the messages that vmgenie's service and its
// clients exchange: one UTF-8 JSON object per line, ended by "\n".
//
// The decoder, the error codes and the parameter schemas are our own code
// rather than a JSON-RPC or JSON Schema library. The wire format is fixed by
// vmgenie's documented exchanges: a string "id", a "command", and a
// "status" of ok, error or progress. Every rejection must also name the
// offending field in a sentence a person can act on, which generic
// validators do not produce.
package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ProtocolVersion is the version reported by the status command. It grows
// only when a change breaks existing clients. Adding commands, parameters,
// response fields or error codes does not change it.
const ProtocolVersion = 1

// Response statuses.
const (
	StatusOK       = "ok"
	StatusError    = "error"
	StatusProgress = "progress"
)

// Request is one request line.
type Request struct {
	// ID is chosen by the client and copied into every response line.
	ID string `json:"id"`
	// Command names the operation, such as "status" or "provision".
	Command string `json:"command"`
	// Parameters holds the command's arguments, still encoded, so that the
	// validator can report each one's JSON type.
	Parameters map[string]json.RawMessage `json:"parameters"`
	// Stream requests progress lines before the final response.
	Stream bool `json:"stream,omitempty"`
}

// Response is one response line: a progress line or the final ok or error.
type Response struct {
	ID      string          `json:"id"`
	Command string          `json:"command"`
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data"`
}

// Progress is the data of a progress line.
type Progress struct {
	// Stage is a short machine-readable step name, such as "render_seed".
	Stage string `json:"stage"`
	// Message describes the step for a person.
	Message string `json:"message"`
	// Percent is the estimated completion from 0 to 100.
	Percent int `json:"percent"`
	// OperationID names the operation the line reports on, when there is
	// one, so a client that disconnects can resume with operation.get.
	OperationID string `json:"operation_id,omitempty"`
}

// NewResponse builds a response line whose data is value encoded as JSON.
// A value that cannot be encoded yields an internal error response instead.
func NewResponse(id, command, status string, value any) Response {
	data, err := marshal(value)
	if err != nil {
		failure := Errorf(CodeInternal, "encoding the %q response failed: %v", command, err)
		data, _ = marshal(failure)
		status = StatusError
	}
	return Response{ID: id, Command: command, Status: status, Data: data}
}

// ErrorResponse builds the error line for err. An error that is not an
// *Error is reported with code internal.
func ErrorResponse(id, command string, err error) Response {
	return NewResponse(id, command, StatusError, AsError(err))
}

// Err decodes the data of an error response. It returns nil for any other
// status.
func (r Response) Err() *Error {
	if r.Status != StatusError {
		return nil
	}
	var e Error
	if err := json.Unmarshal(r.Data, &e); err != nil || e.Code == "" {
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("the service sent an error response with unreadable data: %s", r.Data)}
	}
	return &e
}

// Marshal encodes the response as one line, including the final "\n".
func (r Response) Marshal() []byte {
	if r.Data == nil {
		r.Data = json.RawMessage("{}")
	}
	line, err := marshal(r)
	if err != nil {
		// Only invalid Data can fail here, so send the failure instead.
		fallback := ErrorResponse(r.ID, r.Command, fmt.Errorf("encoding the response failed: %w", err))
		line, _ = marshal(fallback)
	}
	return append(line, '\n')
}

// marshal encodes v as compact JSON without escaping <, > and &, which
// json.Marshal escapes for HTML and which would garble messages such as
// "<os>-<version>".
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
