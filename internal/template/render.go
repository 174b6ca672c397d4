package template

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Names of the seed data files, as NoCloud expects them.
const (
	UserDataFile      = "user-data"
	MetaDataFile      = "meta-data"
	NetworkConfigFile = "network-config"
)

// seedFiles lists the seed data files in render order; network-config is
// optional.
var seedFiles = []string{UserDataFile, MetaDataFile, NetworkConfigFile}

// Rendered is the seed data of one render and the values it used.
type Rendered struct {
	// Template is the template's name, such as "ubuntu-24.04".
	Template string
	// UserData starts with "#cloud-config".
	UserData []byte
	MetaData []byte
	// NetworkConfig is nil when the template has no network-config.
	NetworkConfig []byte

	InstanceID string
	Hostname   string
	Username   string
	// Strings and Lists hold the final value of every variable, after
	// defaults and normalization.
	Strings map[string]string
	Lists   map[string][]string
}

// Files returns the seed data files by name; network-config is present only
// when the template has one.
func (r *Rendered) Files() map[string][]byte {
	files := map[string][]byte{UserDataFile: r.UserData, MetaDataFile: r.MetaData}
	if r.NetworkConfig != nil {
		files[NetworkConfigFile] = r.NetworkConfig
	}
	return files
}

// Error is one problem found while rendering or validating a template. A
// render returns all of them joined with errors.Join; use Errors to get
// them back.
type Error struct {
	// File is the template file relative to the catalog root, such as
	// "ubuntu/24.04/seed-data/user-data"; empty for a value that no file
	// uses.
	File string
	// Line is 1-based; 0 when the problem is not on one line.
	Line int
	// Variable is empty for problems in the template text.
	Variable string
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Variable != "" {
		fmt.Fprintf(&b, "variable %s: ", e.Variable)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors returns the *Error values inside err, which Render and Validate
// join with errors.Join.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, inner := range joined.Unwrap() {
				walk(inner)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return out
}

// renderOptions change a render for tests.
type renderOptions struct {
	// skipChecks inserts the given values without checking them, so tests
	// can prove that hostile values cannot change the YAML structure.
	skipChecks bool
}

// resolved holds the final values of one render.
type resolved struct {
	strings map[string]string
	lists   map[string][]string
	// errs holds the value problems by variable; each is reported once,
	// at the first placeholder that uses the variable.
	errs     map[string]error
	reported map[string]bool
	// missing lists required variables without a value.
	missing map[string]bool
}

// Render renders the template's seed data with values. It reports every
// problem it finds, each naming the file, line, variable and rule.
func (t *Template) Render(values Values) (*Rendered, error) {
	return t.render(values, renderOptions{})
}

func (t *Template) render(values Values, opts renderOptions) (*Rendered, error) {
	files, err := t.readFiles()
	if err != nil {
		return nil, err
	}
	defaults, defaultErrs := t.defaults()
	res := t.resolve(values, defaults, opts)

	var errs []error
	for _, e := range defaultErrs {
		errs = append(errs, e)
	}
	out := map[string][]byte{}
	for _, name := range seedFiles {
		text, ok := files[name]
		if !ok {
			continue
		}
		rendered, fileErrs := renderFile(t.filePath(name), text, res)
		errs = append(errs, fileErrs...)
		out[name] = rendered
	}
	// Value problems of variables that no file uses still fail the render,
	// because the caller asked for those values.
	for _, name := range slices.Sorted(maps.Keys(res.errs)) {
		if !res.reported[name] {
			errs = append(errs, &Error{Variable: name, Err: res.errs[name]})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for _, name := range seedFiles {
		if data, ok := out[name]; ok {
			if err := checkRenderedYAML(t.filePath(name), name, data); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	r := &Rendered{
		Template:      t.Name(),
		UserData:      out[UserDataFile],
		MetaData:      out[MetaDataFile],
		NetworkConfig: out[NetworkConfigFile],
		InstanceID:    res.strings[VarInstanceID],
		Hostname:      res.strings[VarHostname],
		Username:      res.strings[VarUsername],
		Strings:       res.strings,
		Lists:         res.lists,
	}
	return r, nil
}

// resolve picks each variable's value (given, template default, built-in
// default) and checks it.
func (t *Template) resolve(values Values, d templateDefaults, opts renderOptions) *resolved {
	defaults := d.values
	res := &resolved{
		strings:  map[string]string{},
		lists:    map[string][]string{},
		errs:     map[string]error{},
		reported: map[string]bool{},
		missing:  map[string]bool{},
	}
	for _, v := range variables {
		if v.Kind == List {
			items, ok := values.lists[v.Name]
			if !ok {
				items, ok = defaults.lists[v.Name]
			}
			if !ok {
				items = []string{}
			}
			if opts.skipChecks {
				res.lists[v.Name] = items
				continue
			}
			checked, err := checkList(v, items)
			if err != nil {
				res.errs[v.Name] = fromDefault(err, values, d, v.Name)
				continue
			}
			res.lists[v.Name] = checked
			continue
		}

		value, ok := values.strings[v.Name]
		switch {
		case v.Name == VarOperatingSystem:
			value, ok = t.OS, true
		case v.Name == VarOSVersion:
			value, ok = t.Version, true
		case ok:
		case defaults.Has(v.Name):
			value, ok = defaults.strings[v.Name], true
		case v.Name == VarInstanceID:
			value, ok = NewInstanceID(), true
		case !v.Required:
			value, ok = v.Default, true
		}
		if !ok {
			res.missing[v.Name] = true
			continue
		}
		if opts.skipChecks {
			res.strings[v.Name] = value
			continue
		}
		checked, err := checkValue(v, value)
		if err != nil {
			res.errs[v.Name] = fromDefault(err, values, d, v.Name)
			continue
		}
		res.strings[v.Name] = checked
	}
	return res
}

// fromDefault adds where a bad value came from when it is a template
// default rather than a given value.
func fromDefault(err error, values Values, d templateDefaults, name string) error {
	if where, ok := d.where[name]; ok && !values.Has(name) {
		return fmt.Errorf("%w (default set at %s)", err, where)
	}
	return err
}

// renderFile substitutes the placeholders of one file. It returns the
// rendered text and the problems found; the text is only meaningful when
// there are none.
func renderFile(file string, text []byte, res *resolved) ([]byte, []error) {
	var errs []error
	fail := func(line int, variable string, err error) {
		errs = append(errs, &Error{File: file, Line: line, Variable: variable, Err: err})
	}

	src := string(text)
	sc := scanTemplate(src)
	for _, e := range sc.errs {
		fail(e.line, "", errors.New(e.msg))
	}

	lines := strings.Split(src, "\n")
	byLine := map[int][]placeholder{}
	for _, p := range sc.placeholders {
		byLine[p.line] = append(byLine[p.line], p)
	}

	var out bytes.Buffer
	for i, line := range lines {
		n := i + 1
		phs := byLine[n]
		replaced, drop, lineErrs := renderLine(line, phs, res)
		for _, e := range lineErrs {
			fail(n, e.variable, e.err)
		}
		if !drop {
			out.WriteString(replaced)
			if i < len(lines)-1 {
				out.WriteByte('\n')
			}
		}
	}
	return out.Bytes(), errs
}

type variableError struct {
	variable string
	err      error
}

// renderLine substitutes the placeholders of one line. drop is true when an
// empty list removes the line.
func renderLine(line string, phs []placeholder, res *resolved) (string, bool, []variableError) {
	var errs []variableError
	fail := func(name string, err error) { errs = append(errs, variableError{name, err}) }

	// Substitute from right to left so the offsets stay valid.
	for k := len(phs) - 1; k >= 0; k-- {
		p := phs[k]
		v, known := LookupVariable(p.name)
		if !known {
			fail(p.name, fmt.Errorf("unknown variable in placeholder %s: use one of %s", line[p.start:p.end], variableNames()))
			continue
		}
		if err, bad := res.errs[p.name]; bad {
			if !res.reported[p.name] {
				res.reported[p.name] = true
				fail(p.name, err)
			}
			continue
		}
		if res.missing[p.name] {
			if !res.reported[p.name] {
				res.reported[p.name] = true
				fail(p.name, fmt.Errorf("missing value: %s is required (%s)", p.name, v.Rule))
			}
			continue
		}

		if v.Kind == List {
			items := res.lists[p.name]
			switch {
			case p.pos != posScalar:
				fail(p.name, fmt.Errorf("list variable inside a quoted string: a list must be a whole mapping value (key: {{ %s }}) or a whole sequence item (- {{ %s }})", p.name, p.name))
			case p.shape == shapeItem:
				// One "- item" line per element, with the same prefix.
				prefix := line[:p.start]
				var b strings.Builder
				for j, item := range items {
					if j > 0 {
						b.WriteByte('\n')
					}
					b.WriteString(prefix)
					b.WriteString(quoteDouble(item))
				}
				if len(items) == 0 {
					return "", true, errs
				}
				return b.String(), false, errs
			case p.shape == shapeKey && len(items) == 0:
				return "", true, errs
			default:
				line = line[:p.start] + renderFlowSequence(items) + line[p.end:]
			}
			continue
		}

		value := res.strings[p.name]
		var text string
		switch p.pos {
		case posScalar:
			text = quoteDouble(value)
		case posDoubleQuoted:
			text = escapeDouble(value)
		case posSingleQuoted:
			escaped, err := escapeSingle(value)
			if err != nil {
				fail(p.name, err)
				continue
			}
			text = escaped
		}
		line = line[:p.start] + text + line[p.end:]
	}
	return line, false, errs
}

func renderFlowSequence(items []string) string {
	quoted := make([]string, len(items))
	for i, item := range items {
		quoted[i] = quoteDouble(item)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// quoteDouble returns s as a double-quoted YAML scalar.
func quoteDouble(s string) string { return `"` + escapeDouble(s) + `"` }

// escapeDouble escapes s for the inside of a double-quoted YAML scalar.
// Only printable characters stay as they are. Every other one becomes an
// escape sequence that YAML 1.1 (PyYAML, used by cloud-init) and YAML 1.2
// both read, so the value never contains a raw line break and cannot end
// the scalar early. Invalid UTF-8 bytes become U+FFFD.
func escapeDouble(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsUnicodeEscape(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// needsUnicodeEscape reports whether YAML readers treat r as a line break,
// a byte order mark or a non-printable character.
func needsUnicodeEscape(r rune) bool {
	switch {
	case r == 0x2028 || r == 0x2029 || r == 0xfeff:
		return true
	case r >= 0xd800 && r <= 0xdfff:
		return true
	case r == 0xfffe || r == 0xffff:
		return true
	}
	return false
}

// escapeSingle escapes s for the inside of a single-quoted YAML scalar,
// which has no escape sequences: it can hold only printable characters, and
// a quote is doubled.
func escapeSingle(s string) (string, error) {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || needsUnicodeEscape(r) || r == utf8.RuneError {
			return "", fmt.Errorf("value %s contains a line break or control character, which a single-quoted YAML scalar cannot hold: use a double-quoted scalar in the template", quoteShort(s))
		}
	}
	return strings.ReplaceAll(s, "'", "''"), nil
}

// checkRenderedYAML parses a rendered file. A failure here means the
// template itself is not valid YAML, since inserted values are always
// complete scalars.
func checkRenderedYAML(file, name string, data []byte) error {
	if name == UserDataFile && !bytes.HasPrefix(data, []byte("#cloud-config\n")) {
		return &Error{File: file, Line: 1, Err: errors.New("user-data must start with the line #cloud-config")}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{File: file, Err: fmt.Errorf("rendered file is not valid YAML: %w", err)}
	}
	// An empty document is valid; anything else must be a mapping.
	if len(doc.Content) > 0 && doc.Content[0].Kind != yaml.MappingNode {
		return &Error{File: file, Err: errors.New("rendered file is not a YAML mapping")}
	}
	return nil
}
