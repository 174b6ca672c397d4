package pshost

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Protocol is the version of the line protocol that host.ps1 announces.
const Protocol = 1

// RequestEnv is the environment variable that carries the base64-encoded
// request of a one-process-per-call run.
const RequestEnv = "VMGENIE_REQUEST"

// Request is one call of an embedded script, as one JSON line on the host's
// stdin or as the decoded content of RequestEnv.
type Request struct {
	ID     int64           `json:"id"`
	Op     string          `json:"op"`
	Script string          `json:"script"`
	Input  json.RawMessage `json:"input"`
}

// Response is the runner's reply to one Request.
type Response struct {
	ID     int64           `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ScriptError    `json:"error,omitempty"`
	// StrayOutput counts objects that the script wrote besides its result;
	// the runner keeps only the last one.
	StrayOutput int `json:"stray_output,omitempty"`
	// Messages are the warning, verbose and information records the script
	// wrote, each prefixed with its stream name.
	Messages []string `json:"messages,omitempty"`
}

// Ready is the first line host.ps1 writes once its loop runs.
type Ready struct {
	Ready     bool   `json:"ready"`
	Protocol  int    `json:"protocol"`
	PSVersion string `json:"ps_version"`
	PID       int    `json:"pid"`
}

// ScriptError is the error object of a failed Response: the exception that
// ended the script, as New-GenieError in lib.ps1 describes it.
type ScriptError struct {
	// Kind is not_found, conflict, invalid_state or invalid_input when the
	// script raised the error itself, and failed for every other error.
	Kind     string `json:"kind"`
	Message  string `json:"message"`
	Type     string `json:"type"`
	Category string `json:"category"`
	ErrorID  string `json:"error_id"`
	Position string `json:"position"`
}

// Error kinds that scripts raise with New-GenieException.
const (
	KindNotFound     = "not_found"
	KindConflict     = "conflict"
	KindInvalidState = "invalid_state"
	KindInvalidInput = "invalid_input"
	KindFailed       = "failed"
)

func (e *ScriptError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "the script failed without a message"
	}
	if e.ErrorID != "" {
		msg += " (" + e.ErrorID + ")"
	}
	return msg
}

// EncodeLine returns v as one line of JSON in which every non-ASCII
// character is a \u escape, followed by a newline. The line is pure ASCII,
// so no console code page can change it on its way into powershell.exe.
func EncodeLine(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(escapeNonASCII(data), '\n'), nil
}

// escapeNonASCII replaces each non-ASCII character of a JSON text with \u
// escapes, using a surrogate pair above U+FFFF. Non-ASCII bytes can only
// occur inside JSON strings, where the escape means the same character.
func escapeNonASCII(data []byte) []byte {
	var out []byte
	for i := 0; i < len(data); {
		b := data[i]
		if b < utf8.RuneSelf {
			if out != nil {
				out = append(out, b)
			}
			i++
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(data)+32), data[:i]...)
		}
		r, size := utf8.DecodeRune(data[i:])
		i += size
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			out = appendEscape(appendEscape(out, hi), lo)
			continue
		}
		out = appendEscape(out, r)
	}
	if out == nil {
		return data
	}
	return out
}

func appendEscape(out []byte, r rune) []byte {
	out = append(out, '\\', 'u')
	hex := strconv.FormatInt(int64(r), 16)
	for i := len(hex); i < 4; i++ {
		out = append(out, '0')
	}
	return append(out, hex...)
}

// ErrNotResponse marks an output line that is not a response object; the
// reader logs such lines and skips them.
var ErrNotResponse = errors.New("not a response line")

// DecodeResponse parses one output line. A line that is not a JSON object
// with an "id" and an "ok" field is ErrNotResponse.
func DecodeResponse(line []byte) (Response, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Response{}, ErrNotResponse
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(line, &probe); err != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrNotResponse, err)
	}
	if _, ok := probe["id"]; !ok {
		return Response{}, ErrNotResponse
	}
	if _, ok := probe["ok"]; !ok {
		return Response{}, ErrNotResponse
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrNotResponse, err)
	}
	if !resp.OK && resp.Error == nil {
		resp.Error = &ScriptError{Kind: KindFailed, Message: "the response has ok=false and no error object"}
	}
	return resp, nil
}

// decodeReady parses the ready line of host.ps1.
func decodeReady(line []byte) (Ready, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Ready{}, false
	}
	var r Ready
	if err := json.Unmarshal(line, &r); err != nil || !r.Ready {
		return Ready{}, false
	}
	return r, true
}

// EncodeCommand returns script in the form powershell.exe's -EncodedCommand
// takes: base64 of its UTF-16LE bytes.
func EncodeCommand(script string) string {
	units := utf16.Encode([]rune(script))
	buf := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(buf[2*i:], u)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// DecodeCommand reverses EncodeCommand.
func DecodeCommand(encoded string) (string, error) {
	buf, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "", fmt.Errorf("decode -EncodedCommand: %w", err)
	}
	if len(buf)%2 != 0 {
		return "", fmt.Errorf("decode -EncodedCommand: %d bytes is not a whole number of UTF-16 code units", len(buf))
	}
	units := make([]uint16, len(buf)/2)
	for i := range units {
		units[i] = binary.LittleEndian.Uint16(buf[2*i:])
	}
	return string(utf16.Decode(units)), nil
}
