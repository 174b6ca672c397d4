package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func testCommand() Command {
	return Command{
		Name: "vm.create",
		Params: []Param{
			{Name: "name", Type: TypeString, Required: true, Description: "the VM name"},
			{Name: "cpus", Type: TypeInteger, Default: int64(2), Description: "virtual CPUs"},
			{Name: "ratio", Type: TypeNumber, Description: "a ratio"},
			{Name: "force", Type: TypeBoolean, Description: "skip checks"},
			{Name: "labels", Type: TypeObject, Description: "labels"},
			{Name: "disks", Type: TypeArray, Description: "disks"},
			{Name: "tags", Type: TypeStringList, Enum: []string{"web", "db"}, Description: "tags"},
			{Name: "mode", Type: TypeString, Enum: []string{"fast", "safe"}, Description: "mode"},
			{Name: "host", Type: TypeString, Description: "host", Check: func(v any) error {
				if strings.Contains(v.(string), " ") {
					return errors.New("spaces are not allowed; use '-'")
				}
				return nil
			}},
		},
	}
}

func decodeParams(t *testing.T, text string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidateDecodesEveryType(t *testing.T) {
	values, err := testCommand().Validate(decodeParams(t, `{
		"name": "vm1", "cpus": 4, "ratio": 0.5, "force": true, "labels": {"a": "b"},
		"disks": [1, "x"], "tags": ["web"], "mode": "safe", "host": "h1"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Values{
		"name": "vm1", "cpus": int64(4), "ratio": 0.5, "force": true,
		"labels": map[string]any{"a": "b"}, "disks": []any{float64(1), "x"},
		"tags": []string{"web"}, "mode": "safe", "host": "h1",
	}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("values = %#v\nwant %#v", values, want)
	}
	if values.String("name") != "vm1" || values.Int("cpus") != 4 || values.Float("ratio") != 0.5 ||
		!values.Bool("force") || len(values.StringList("tags")) != 1 {
		t.Error("typed accessors disagree with the decoded values")
	}
}

func TestValidateAppliesDefaults(t *testing.T) {
	values, err := testCommand().Validate(decodeParams(t, `{"name": "vm1", "ratio": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if values.Int("cpus") != 2 {
		t.Errorf("cpus = %v, want the default 2", values["cpus"])
	}
	if values.Has("ratio") || values.Has("mode") {
		t.Errorf("absent or null optional parameters without a default should stay absent: %v", values)
	}
}

func TestValidateIntegerForms(t *testing.T) {
	cases := map[string]bool{"3": true, "3.0": true, "1e3": true, "-7": true, "3.5": false, "1e300": false, `"3"`: false}
	for text, ok := range cases {
		_, err := testCommand().Validate(decodeParams(t, fmt.Sprintf(`{"name": "v", "cpus": %s}`, text)))
		if (err == nil) != ok {
			t.Errorf("cpus %s: error %v, want accepted=%v", text, err, ok)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		params string
		want   []string
	}{
		{"missing", `{}`, []string{`missing parameter "name"`, "a string", "the VM name"}},
		{"unknown", `{"name": "v", "colour": "red"}`, []string{`unknown parameter "colour"`, `"name"`}},
		{"string as number", `{"name": 5}`, []string{`"name" must be a string, got number (5)`}},
		{"integer as string", `{"name": "v", "cpus": "4"}`, []string{`"cpus" must be an integer, got string`}},
		{"number as bool", `{"name": "v", "ratio": true}`, []string{`"ratio" must be a number, got boolean`}},
		{"bool as string", `{"name": "v", "force": "yes"}`, []string{`"force" must be a boolean`}},
		{"object as array", `{"name": "v", "labels": []}`, []string{`"labels" must be an object, got array`}},
		{"array as object", `{"name": "v", "disks": {}}`, []string{`"disks" must be an array, got object`}},
		{"string-list with number", `{"name": "v", "tags": ["web", 1]}`, []string{`"tags" must be a list of strings`}},
		{"enum", `{"name": "v", "mode": "slow"}`, []string{`"mode" has the invalid value "slow"`, "fast, safe"}},
		{"string-list enum", `{"name": "v", "tags": ["web", "cache"]}`, []string{`"cache"`, "web, db"}},
		{"check", `{"name": "v", "host": "a b"}`, []string{`parameter "host": spaces are not allowed`}},
		{"several at once", `{"cpus": 1.5, "zone": 1}`, []string{`unknown parameter "zone"`, `missing parameter "name"`, `"cpus" must be an integer`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testCommand().Validate(decodeParams(t, tc.params))
			if err == nil {
				t.Fatalf("Validate accepted %s", tc.params)
			}
			if err.Code != CodeInvalidParameter {
				t.Errorf("code = %q, want invalid_parameter", err.Code)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Message, want) {
					t.Errorf("message %q does not contain %q", err.Message, want)
				}
			}
		})
	}
}

func TestValidateNoParameters(t *testing.T) {
	cmd := Command{Name: "status"}
	if _, err := cmd.Validate(map[string]json.RawMessage{}); err != nil {
		t.Errorf("empty parameters: %v", err)
	}
	_, err := cmd.Validate(decodeParams(t, `{"x": 1}`))
	if err == nil || !strings.Contains(err.Message, "takes no parameters") {
		t.Errorf("error %v should say the command takes no parameters", err)
	}
}

func TestAsErrorKeepsCodeThroughWrapping(t *testing.T) {
	base := Errorf(CodeNotFound, "template debian-99 not found")
	wrapped := fmt.Errorf("rendering seed data: %w", base)
	got := AsError(wrapped)
	if got.Code != CodeNotFound || got.Message != "rendering seed data: template debian-99 not found" {
		t.Errorf("AsError(wrapped) = %+v", got)
	}
	if got := AsError(context.DeadlineExceeded); got.Code != CodeTimeout {
		t.Errorf("deadline maps to %q, want timeout", got.Code)
	}
	if got := AsError(errors.New("disk full")); got.Code != CodeInternal || got.Message != "disk full" {
		t.Errorf("plain error maps to %+v, want internal with its text", got)
	}
	if !errors.Is(wrapped, &Error{Code: CodeNotFound}) {
		t.Error("errors.Is should match an *Error by code")
	}
}

func TestResponseMarshalKeepsAngleBrackets(t *testing.T) {
	line := ErrorResponse("1", "x", Errorf(CodeInvalidParameter, "write it as <os>-<version> & retry")).Marshal()
	if !strings.Contains(string(line), "<os>-<version> & retry") {
		t.Errorf("line %s escapes < > &, which makes messages hard to read", line)
	}
}

func TestResponseErr(t *testing.T) {
	ok := NewResponse("1", "status", StatusOK, map[string]string{"details": "x"})
	if ok.Err() != nil {
		t.Error("ok response has an error")
	}
	bad := Response{ID: "1", Command: "x", Status: StatusError, Data: json.RawMessage(`"oops"`)}
	if e := bad.Err(); e == nil || e.Code != CodeInternal {
		t.Errorf("unreadable error data gives %v, want internal", e)
	}
}

func TestValidateHidesSensitiveValues(t *testing.T) {
	cmd := Command{Name: "user.set", Params: []Param{
		{Name: "password", Type: TypeString, Sensitive: true, Required: true},
		{Name: "level", Type: TypeString, Sensitive: true, Enum: []string{"a", "b"}},
	}}
	_, err := cmd.Validate(decodeParams(t, `{"password": 12345678, "level": "s3cret"}`))
	if err == nil {
		t.Fatal("Validate accepted a number password")
	}
	if strings.Contains(err.Message, "12345678") || strings.Contains(err.Message, "s3cret") {
		t.Errorf("message %q quotes a sensitive value", err.Message)
	}
	if !strings.Contains(err.Message, `"password" must be a string`) {
		t.Errorf("message %q should still name the parameter", err.Message)
	}
}
