package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeRequestAccepts(t *testing.T) {
	cases := []struct {
		name       string
		line       string
		wantStream bool
		wantParams int
	}{
		{"spec status", `{"id": "abc123", "command": "status", "parameters": {}}`, false, 0},
		{"trailing newline", "{\"id\":\"a\",\"command\":\"status\",\"parameters\":{}}\n", false, 0},
		{"trailing CRLF", "{\"id\":\"a\",\"command\":\"status\",\"parameters\":{}}\r\n", false, 0},
		{"no parameters field", `{"id":"a","command":"status"}`, false, 0},
		{"stream true", `{"id":"a","command":"status","parameters":{"x":1},"stream":true}`, true, 1},
		{"unknown field ignored", `{"id":"a","command":"status","parameters":{},"client":"v9"}`, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := DecodeRequest([]byte(tc.line))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if req.ID == "" || req.Command != "status" {
				t.Errorf("id %q command %q, want both read", req.ID, req.Command)
			}
			if req.Stream != tc.wantStream {
				t.Errorf("stream = %v, want %v", req.Stream, tc.wantStream)
			}
			if req.Parameters == nil || len(req.Parameters) != tc.wantParams {
				t.Errorf("parameters = %v, want %d entries", req.Parameters, tc.wantParams)
			}
		})
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	cases := []struct {
		name        string
		line        string
		wantID      string
		wantCommand string
		wantInMsg   string
	}{
		{"empty", "", "", "", "empty"},
		{"blank", "   \n", "", "", "empty"},
		{"null", "null", "", "", "null"},
		{"array", `[1,2]`, "", "", "not an object"},
		{"string", `"status"`, "", "", "not an object"},
		{"truncated", `{"id":"a"`, "", "", "byte offset"},
		{"trailing garbage", `{"id":"a","command":"status"} {}`, "", "", "valid JSON"},
		{"invalid UTF-8 in value", "{\"id\":\"a\",\"command\":\"status\",\"parameters\":{\"k\":\"\xc3\x28\"}}", "a", "status", "UTF-8"},
		{"missing id", `{"command":"status"}`, "", "status", `no "id"`},
		{"empty id", `{"id":"","command":"status"}`, "", "status", `"id" is empty`},
		{"number id", `{"id":1,"command":"status"}`, "", "status", "got number"},
		{"null id", `{"id":null,"command":"status"}`, "", "status", "got null"},
		{"missing command", `{"id":"a"}`, "a", "", `no "command"`},
		{"object command", `{"id":"a","command":{}}`, "a", "", "got object"},
		{"string parameters", `{"id":"a","command":"status","parameters":"x=1"}`, "a", "status", "got string"},
		{"number stream", `{"id":"a","command":"status","stream":1}`, "a", "status", `"stream"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := DecodeRequest([]byte(tc.line))
			if err == nil {
				t.Fatalf("DecodeRequest accepted %q", tc.line)
			}
			if err.Code != CodeInvalidRequest {
				t.Errorf("code = %q, want invalid_request", err.Code)
			}
			if req.ID != tc.wantID || req.Command != tc.wantCommand {
				t.Errorf("echo id %q command %q, want %q %q", req.ID, req.Command, tc.wantID, tc.wantCommand)
			}
			if !strings.Contains(err.Message, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", err.Message, tc.wantInMsg)
			}
		})
	}
}

// FuzzDecodeRequest checks that any line yields either a request or an
// invalid_request error, never a panic, and that the error response echoes
// id and command whenever they are readable strings.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"id": "abc123", "command": "status", "parameters": {}}`,
		`{"id": "abc456", "command": "provision", "parameters": {"template": "ubuntu-24.04", "vm_name": "testvm"}}`,
		`{"id":"a","command":"x","parameters":[],"stream":true}`,
		`{"id":7}`, `[]`, `null`, `{"id":"\u00e9","command":"\ud800"}`, "{\"id\":\"\xff\"}", "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil && err.Code != CodeInvalidRequest {
			t.Fatalf("code %q, want invalid_request", err.Code)
		}

		resp := NewResponse(req.ID, req.Command, StatusOK, map[string]string{"details": "x"})
		if err != nil {
			resp = ErrorResponse(req.ID, req.Command, err)
		}
		encoded := resp.Marshal()
		if !utf8.Valid(encoded) || encoded[len(encoded)-1] != '\n' {
			t.Fatalf("response is not one UTF-8 line: %q", encoded)
		}
		var back Response
		if jerr := json.Unmarshal(encoded, &back); jerr != nil {
			t.Fatalf("response is not valid JSON: %v: %q", jerr, encoded)
		}

		// Whatever id and command the line carries as valid strings must
		// come back in the response. Keys match exactly, as in the
		// protocol, unlike encoding/json's case-insensitive struct fields.
		var fields map[string]json.RawMessage
		if json.Unmarshal(line, &fields) != nil || !utf8.Valid(line) {
			return
		}
		for key, got := range map[string]string{"id": back.ID, "command": back.Command} {
			var want string
			if json.Unmarshal(fields[key], &want) == nil && got != want {
				t.Errorf("response %s %q, want the request's %q", key, got, want)
			}
		}
	})
}
