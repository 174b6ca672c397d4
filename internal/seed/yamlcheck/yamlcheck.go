// Package yamlcheck checks that a YAML document loads in cloud-init, which
// parses cloud-config, meta-data and network-config with PyYAML's SafeLoader
// (cloudinit.safeyaml.load in cloud-init 22.4 with PyYAML 6.0).
//
// We parse with go.yaml.in/yaml/v3 and add our own checks on top because
// yaml.v3 accepts documents that PyYAML rejects, and no Go library follows
// PyYAML's rules. A document that passes here but fails in the guest would
// surface only as a warning in the guest's cloud-init log after boot. The
// checks added on top of yaml.v3:
//
//   - a block scalar header without a space after its indicators ("|#"),
//     and the escape "\'" in double-quoted scalars;
//   - tabs outside quoted scalars, block scalar content and comments, which
//     PyYAML's scanner never accepts as separation space;
//   - characters outside PyYAML's printable set, anywhere in the stream;
//   - more than one document in the stream;
//   - an anchor name defined twice in the document;
//   - collections nested deeper than MaxDepth (PyYAML's composer recurses);
//   - tags that SafeLoader has no constructor for, and values that its
//     constructors raise on: invalid dates and times, "0b_" and "0x_",
//     plain "=" and "<<" values, bad !!binary base64, !!bool, !!int and
//     !!float values that Python cannot convert;
//   - mapping keys that are collections (unhashable in Python);
//   - merge keys ("<<") whose value is not a mapping or a list of mappings.
//
// Duplicate mapping keys are accepted, as PyYAML accepts them (the last
// value wins); Check returns a warning for each.
//
// NOTE: flow collections ("[...]", "{...}") are where yaml.v3 and PyYAML
// differ most. FuzzCheckMatchesPyYAML found several such cases, each
// handled here, and longer fuzzing may find more.
//
// yaml.v3 rejects a few documents that PyYAML accepts: the escape "\/" and
// escaped surrogates in double-quoted scalars. Check rejects those too.
// The "%YAML 1.2" directive and reserved directives, which yaml.v3 rejects,
// are accepted, as in PyYAML.
package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxDepth is the deepest nesting of collections that Check accepts.
// PyYAML 6.0 on Python 3.11 raises RecursionError at about 490 levels when
// called from a shallow stack (measured with python3 -c). cloud-init calls
// it from a deeper stack, so the limit keeps a wide margin.
const MaxDepth = 400

// Result is a document that loads in PyYAML's SafeLoader.
type Result struct {
	// Root is the document's top-level node, or nil when the stream holds
	// no document (empty, or only comments).
	Root *yaml.Node
	// Warnings lists problems that PyYAML accepts but that are likely
	// mistakes, such as duplicate mapping keys.
	Warnings []Warning
}

// Warning is a problem that does not stop cloud-init from loading the
// document.
type Warning struct {
	Line, Column int // 1-based
	Message      string
}

func (w Warning) String() string {
	return fmt.Sprintf("line %d, column %d: %s", w.Line, w.Column, w.Message)
}

// Error is a document that PyYAML would fail to load.
type Error struct {
	// Line and Column are 1-based. Column is 0 when only the line is known.
	Line, Column int
	// Problem is what is wrong, in the terms of the YAML specification.
	Problem string
	// Hint is how to fix it, or empty.
	Hint string
}

func (e *Error) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Column > 0 {
		where += fmt.Sprintf(", column %d", e.Column)
	}
	if e.Hint == "" {
		return where + ": " + e.Problem
	}
	return where + ": " + e.Problem + ": " + e.Hint
}

// Check parses data as a single YAML document the way cloud-init's loader
// does and returns its root node. Every error is an *Error.
func Check(data []byte) (*Result, error) {
	text := newText(data)
	if err := text.checkUTF8(); err != nil {
		return nil, err
	}
	if err := text.checkPrintable(); err != nil {
		return nil, err
	}
	parseInput, err := normalizeDirectives(text)
	if err != nil {
		return nil, err
	}

	dec := yaml.NewDecoder(bytes.NewReader(parseInput))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Result{}, nil
		}
		return nil, locateSyntaxError(text, parseInput, err)
	}
	if err := checkSingleDocument(text, dec, &doc); err != nil {
		return nil, err
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if root == nil {
		return &Result{}, nil
	}

	if err := checkScalarSyntax(text, root, false, false); err != nil {
		return nil, err
	}
	spans := collectSpans(text, root)
	if err := checkTabs(text, spans); err != nil {
		return nil, err
	}
	c := &constructor{text: text, anchors: map[string]*yaml.Node{}}
	if err := c.check(root); err != nil {
		return nil, err
	}
	return &Result{Root: root, Warnings: c.warnings}, nil
}

// checkSingleDocument rejects a stream with a second document, as
// yaml.safe_load does ("expected a single document in the stream").
func checkSingleDocument(text *text, dec *yaml.Decoder, first *yaml.Node) error {
	var second yaml.Node
	err := dec.Decode(&second)
	if errors.Is(err, io.EOF) {
		return nil
	}
	line := second.Line
	if err != nil || line == 0 {
		line = text.secondDocumentLine(first)
	}
	return &Error{
		Line:    line,
		Column:  1,
		Problem: "expected a single document in the stream, but found another document",
		Hint:    "remove the \"---\" line and everything after it, or merge the second document into the first",
	}
}

// invalidUTF8Offset returns the offset of the first invalid UTF-8 byte, or -1.
func invalidUTF8Offset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}
