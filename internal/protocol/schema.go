package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Type is a parameter's JSON type.
type Type string

// Parameter types.
const (
	TypeString  Type = "string"
	TypeInteger Type = "integer" // a JSON number without a fractional part
	TypeNumber  Type = "number"
	TypeBoolean Type = "boolean"
	TypeObject  Type = "object"
	TypeArray   Type = "array"
	// TypeStringList is a JSON array whose elements are all strings.
	TypeStringList Type = "string-list"
)

// Param declares one parameter of a command.
type Param struct {
	Name        string `json:"name"`
	Type        Type   `json:"type"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
	// Enum lists the allowed values of a string, or of each element of a
	// string-list. Empty means any value.
	Enum []string `json:"enum,omitempty"`
	// Default is used when an optional parameter is absent. It must already
	// have the Go type that Values returns for Type.
	Default any `json:"default,omitempty"`
	// Sensitive keeps the value out of error messages, and so out of logs,
	// for parameters such as passwords.
	Sensitive bool `json:"sensitive,omitempty"`
	// Check validates the decoded value beyond its type, for example a name
	// pattern. Its error message is sent to the client after the parameter
	// name, so it should state the rule and the fix.
	Check func(value any) error `json:"-"`
}

// Handler runs a command whose parameters have passed validation. It
// returns the response data, or an error: an *Error chooses the code, and
// any other error is sent as internal.
type Handler func(ctx context.Context, call *Call) (any, error)

// Command declares a command: its name, its parameters and its handler.
type Command struct {
	Name    string
	Summary string
	Params  []Param
	// Streams is true when the command sends progress lines for a request
	// with "stream": true.
	Streams bool
	Handler Handler
}

// CommandInfo is the machine-readable description of a command that the
// help command returns.
type CommandInfo struct {
	Name    string  `json:"name"`
	Summary string  `json:"summary"`
	Streams bool    `json:"streams"`
	Params  []Param `json:"parameters"`
}

// Info describes the command for help.
func (c Command) Info() CommandInfo {
	params := c.Params
	if params == nil {
		params = []Param{}
	}
	return CommandInfo{Name: c.Name, Summary: c.Summary, Streams: c.Streams, Params: params}
}

// Values holds the validated parameters of a request, with defaults filled
// in. Strings are string, integers int64, numbers float64, booleans bool,
// string-lists []string, objects map[string]any and arrays []any.
type Values map[string]any

// String returns the string parameter name, or "" when it is absent.
func (v Values) String(name string) string {
	s, _ := v[name].(string)
	return s
}

// Int returns the integer parameter name, or 0 when it is absent.
func (v Values) Int(name string) int64 {
	n, _ := v[name].(int64)
	return n
}

// Float returns the number parameter name, or 0 when it is absent.
func (v Values) Float(name string) float64 {
	f, _ := v[name].(float64)
	return f
}

// Bool returns the boolean parameter name, or false when it is absent.
func (v Values) Bool(name string) bool {
	b, _ := v[name].(bool)
	return b
}

// StringList returns the string-list parameter name, or nil when absent.
func (v Values) StringList(name string) []string {
	l, _ := v[name].([]string)
	return l
}

// Has reports whether the parameter was sent or has a default.
func (v Values) Has(name string) bool {
	_, ok := v[name]
	return ok
}

// Validate checks params against the command's schema and decodes them.
// Every unknown, missing or mistyped parameter yields an *Error with code
// invalid_parameter whose message names the parameter and the fix. When
// several parameters are wrong, the message lists them all.
func (c Command) Validate(params map[string]json.RawMessage) (Values, *Error) {
	values := Values{}
	var problems []string

	unknown := make([]string, 0)
	for name := range params {
		if !slices.ContainsFunc(c.Params, func(p Param) bool { return p.Name == name }) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		problems = append(problems, fmt.Sprintf("unknown parameter %q: %s", name, c.describeParams()))
	}

	for _, p := range c.Params {
		raw, ok := params[p.Name]
		if !ok || jsonKind(raw) == "null" {
			if p.Required {
				problems = append(problems, fmt.Sprintf("missing parameter %q: set it to %s (%s)", p.Name, article(p.Type), p.Description))
			} else if p.Default != nil {
				values[p.Name] = p.Default
			}
			continue
		}
		value, err := p.decode(raw)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		values[p.Name] = value
	}

	if len(problems) > 0 {
		return nil, &Error{Code: CodeInvalidParameter, Message: fmt.Sprintf("command %q: %s", c.Name, strings.Join(problems, "; "))}
	}
	return values, nil
}

// describeParams lists the accepted parameters for an "unknown parameter"
// message.
func (c Command) describeParams() string {
	if len(c.Params) == 0 {
		return "this command takes no parameters, so send \"parameters\": {}"
	}
	names := make([]string, len(c.Params))
	for i, p := range c.Params {
		names[i] = strconv.Quote(p.Name)
	}
	return "remove it; this command takes " + strings.Join(names, ", ")
}

// decode converts raw to the Go type for p.Type, then applies Enum and Check.
func (p Param) decode(raw json.RawMessage) (any, error) {
	kind := jsonKind(raw)
	quoted := abbreviate(raw)
	if p.Sensitive {
		quoted = "(value hidden)"
	}
	mistyped := fmt.Errorf("parameter %q must be %s, got %s %s", p.Name, article(p.Type), kind, quoted)

	var value any
	switch p.Type {
	case TypeString:
		var s string
		if kind != "string" || json.Unmarshal(raw, &s) != nil {
			return nil, mistyped
		}
		value = s
	case TypeInteger:
		n, ok := decodeInteger(raw)
		if kind != "number" || !ok {
			return nil, mistyped
		}
		value = n
	case TypeNumber:
		var f float64
		if kind != "number" || json.Unmarshal(raw, &f) != nil {
			return nil, mistyped
		}
		value = f
	case TypeBoolean:
		var b bool
		if kind != "boolean" || json.Unmarshal(raw, &b) != nil {
			return nil, mistyped
		}
		value = b
	case TypeObject:
		var m map[string]any
		if kind != "object" || json.Unmarshal(raw, &m) != nil {
			return nil, mistyped
		}
		value = m
	case TypeArray:
		var a []any
		if kind != "array" || json.Unmarshal(raw, &a) != nil {
			return nil, mistyped
		}
		value = a
	case TypeStringList:
		var l []string
		if kind != "array" || json.Unmarshal(raw, &l) != nil {
			return nil, mistyped
		}
		value = l
	default:
		return nil, fmt.Errorf("parameter %q has an undeclared type %q in the service: report this as a bug", p.Name, p.Type)
	}

	if err := p.checkEnum(value); err != nil {
		return nil, err
	}
	if p.Check != nil {
		if err := p.Check(value); err != nil {
			return nil, fmt.Errorf("parameter %q: %w", p.Name, err)
		}
	}
	return value, nil
}

func (p Param) checkEnum(value any) error {
	if len(p.Enum) == 0 {
		return nil
	}
	var candidates []string
	switch v := value.(type) {
	case string:
		candidates = []string{v}
	case []string:
		candidates = v
	}
	for _, c := range candidates {
		if slices.Contains(p.Enum, c) {
			continue
		}
		if p.Sensitive {
			return fmt.Errorf("parameter %q has an invalid value: use one of %s", p.Name, strings.Join(p.Enum, ", "))
		}
		return fmt.Errorf("parameter %q has the invalid value %q: use one of %s", p.Name, c, strings.Join(p.Enum, ", "))
	}
	return nil
}

// decodeInteger accepts JSON numbers with an integral value that fits in an
// int64, including forms such as 2.0 and 1e3.
func decodeInteger(raw json.RawMessage) (int64, bool) {
	text := string(bytes.TrimSpace(raw))
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

func article(t Type) string {
	switch t {
	case TypeInteger, TypeObject, TypeArray:
		return "an " + string(t)
	case TypeStringList:
		return "a list of strings"
	default:
		return "a " + string(t)
	}
}

// abbreviate quotes a raw value for a message, cut to 40 bytes.
func abbreviate(raw json.RawMessage) string {
	text := string(bytes.TrimSpace(raw))
	if len(text) > 40 {
		text = strings.ToValidUTF8(text[:40], "") + "..."
	}
	return "(" + text + ")"
}
