package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// DecodeRequest parses one request line; a trailing "\n" or "\r\n" is
// allowed. On failure it returns an *Error with code invalid_request and a
// Request that carries whatever id and command could be read, so that the
// error response can echo them. Unknown top-level fields are ignored. A
// missing "parameters" field is read as an empty object.
func DecodeRequest(line []byte) (Request, *Error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))

	var req Request
	if len(bytes.TrimSpace(line)) == 0 {
		return req, Errorf(CodeInvalidRequest, "the request line is empty: send one JSON object such as {\"id\":\"1\",\"command\":\"status\",\"parameters\":{}}")
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return req, Errorf(CodeInvalidRequest, "the request is not a valid JSON object: %s", describeJSONError(line, err))
	}
	if fields == nil {
		return req, Errorf(CodeInvalidRequest, "the request is null: send one JSON object with \"id\", \"command\" and \"parameters\"")
	}

	// Read id and command first, so that every later error can echo them.
	idErr := decodeString(fields, "id", &req.ID)
	commandErr := decodeString(fields, "command", &req.Command)

	if !utf8.Valid(line) {
		return req, Errorf(CodeInvalidRequest, "the request is not valid UTF-8 (byte offset %d): encode the line as UTF-8", invalidUTF8Offset(line))
	}
	if idErr != nil {
		return req, idErr
	}
	if commandErr != nil {
		return req, commandErr
	}

	raw, ok := fields["parameters"]
	switch {
	case !ok:
		req.Parameters = map[string]json.RawMessage{}
	case jsonKind(raw) != "object":
		return req, Errorf(CodeInvalidRequest, "\"parameters\" must be a JSON object, got %s: send {} when the command takes none", jsonKind(raw))
	default:
		if err := json.Unmarshal(raw, &req.Parameters); err != nil {
			return req, Errorf(CodeInvalidRequest, "\"parameters\" is not a valid JSON object: %v", err)
		}
	}

	if raw, ok := fields["stream"]; ok {
		if err := json.Unmarshal(raw, &req.Stream); err != nil || jsonKind(raw) != "boolean" {
			return req, Errorf(CodeInvalidRequest, "\"stream\" must be true or false, got %s", jsonKind(raw))
		}
	}
	return req, nil
}

// decodeString stores the string field name in dst. It returns an
// invalid_request error when the field is missing, not a string, or empty.
func decodeString(fields map[string]json.RawMessage, name string, dst *string) *Error {
	raw, ok := fields[name]
	if !ok {
		return Errorf(CodeInvalidRequest, "the request has no %q field: add a non-empty string %q", name, name)
	}
	if jsonKind(raw) != "string" {
		return Errorf(CodeInvalidRequest, "%q must be a string, got %s", name, jsonKind(raw))
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return Errorf(CodeInvalidRequest, "%q is not a valid JSON string: %v", name, err)
	}
	if *dst == "" {
		return Errorf(CodeInvalidRequest, "%q is empty: set it to a non-empty string", name)
	}
	return nil
}

// jsonKind names the JSON type of an encoded value: object, array, string,
// number, boolean or null.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func describeJSONError(line []byte, err error) string {
	if syntaxErr, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%v at byte offset %d", syntaxErr, syntaxErr.Offset)
	}
	if typeErr, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("the line is a JSON %s, not an object", typeErr.Value)
	}
	return err.Error()
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
