package yamlcheck

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// checkScalarSyntax checks three details of scalars where yaml.v3 is more
// lenient than PyYAML: block scalar headers, double-quoted escapes, and
// plain scalars in flow collections that end with ":". inFlow is true
// inside a flow collection, and isValue for the value of a mapping entry.
func checkScalarSyntax(t *text, n *yaml.Node, inFlow, isValue bool) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.MappingNode, yaml.SequenceNode:
		flow := inFlow || n.Style&yaml.FlowStyle != 0
		if flow && n.Kind == yaml.MappingNode {
			if err := checkFlowKeys(t, n); err != nil {
				return err
			}
		}
		for i, c := range n.Content {
			value := n.Kind == yaml.MappingNode && i%2 == 1
			if err := checkScalarSyntax(t, c, flow, value); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		start, _ := t.skipProperties(t.nodeOffset(n))
		switch {
		case n.Style&yaml.DoubleQuotedStyle != 0:
			return checkEscapes(t, start)
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			return checkBlockHeader(t, start)
		case n.Style&yaml.SingleQuotedStyle == 0 && inFlow && strings.HasSuffix(n.Value, ":"):
			return checkFlowColon(t, n, start, isValue)
		}
	}
	return nil
}

// checkFlowKeys checks that each implicit key of a mapping in a flow
// collection ends on the line where it starts, with its ":" on that line.
// PyYAML allows a simple key only on one line, so "[a\n: b]" and
// "{a\nb: c}" fail there, while yaml.v3 accepts them.
func checkFlowKeys(t *text, mapping *yaml.Node) error {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		key := mapping.Content[i]
		if key.Kind != yaml.ScalarNode || key.Line == 0 {
			continue
		}
		start, _ := t.skipProperties(t.nodeOffset(key))
		if start >= len(t.data) || t.data[start] == '?' || t.data[start] == ':' {
			continue
		}
		before := start - 1
		for before >= 0 && (t.data[before] == ' ' || t.data[before] == '\t') {
			before--
		}
		if before >= 0 && t.data[before] == '?' {
			continue
		}
		end := start
		if c := t.data[start]; c == '"' || c == '\'' {
			end = quotedEnd(t.data, start)
		}
		colon := flowColon(t.data, end)
		if colon < 0 {
			continue
		}
		if keyLine, _ := t.position(start); keyLine != lineOf(t, colon) {
			return t.errorAt(colon, "expected ',' or the end of the flow collection, but found ':' on a later line than its key",
				"put the key and its \":\" on one line")
		}
	}
	return nil
}

func lineOf(t *text, offset int) int {
	line, _ := t.position(offset)
	return line
}

// quotedEnd returns the offset just past the quoted scalar starting at
// start.
func quotedEnd(data []byte, start int) int {
	quote := data[start]
	for i := start + 1; i < len(data); i++ {
		switch {
		case quote == '"' && data[i] == '\\':
			i++
		case quote == '\'' && data[i] == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i++
		case data[i] == quote:
			return i + 1
		}
	}
	return len(data)
}

// flowColon returns the offset of the ":" that ends a flow key whose text
// (or closing quote) ends at or after offset from: the first ":" followed
// by a space, a line break, a flow indicator or the end, or right after a
// quoted key. It returns -1 at a "," or a closing bracket first.
func flowColon(data []byte, from int) int {
	for i := from; i < len(data); i++ {
		switch data[i] {
		case ',', ']', '}':
			return -1
		case ':':
			if i+1 >= len(data) || strings.IndexByte(" \t\r\n,[]{}", data[i+1]) >= 0 || i == from {
				return i
			}
		}
	}
	return -1
}

// checkFlowColon checks a plain scalar in a flow collection that ends with
// ":". PyYAML ends a plain scalar there at a ":" followed by a space or a
// flow indicator and reads the ":" as a mapping value indicator, where
// yaml.v3 keeps the ":" in the scalar. As the value of an entry ("[a: b:]")
// that is an error in PyYAML. As a sequence item ("[a:]") PyYAML reads a
// one-entry mapping with the text before ":" as its key, so that key gets
// the checks of a plain mapping key.
func checkFlowColon(t *text, n *yaml.Node, start int, isValue bool) error {
	if isValue {
		return t.errorAt(start, fmt.Sprintf("plain value %q ends with \":\", which PyYAML reads as a second mapping value indicator", n.Value),
			"quote the value")
	}
	if colon := flowColon(t.data, start); colon >= 0 && lineOf(t, colon) != lineOf(t, start) {
		return t.errorAt(colon, "expected ',' or the end of the flow collection, but found ':' on a later line than its key",
			"put the key and its \":\" on one line, or quote the value")
	}
	key := strings.TrimSuffix(n.Value, ":")
	var problem string
	switch implicitTag(key) {
	case tagTimestamp:
		problem = checkTimestamp(key)
	case tagInt:
		problem = checkInt(key)
	case tagMerge:
		problem = "expected a mapping or list of mappings for merging, but found scalar"
	}
	if problem != "" {
		return t.errorAt(start, problem+fmt.Sprintf(" (PyYAML reads %q as a one-entry mapping)", n.Value), "quote the value")
	}
	return nil
}

// checkBlockHeader checks the header of a block scalar ("|" or ">", then at
// most one chomping and one indentation indicator). PyYAML needs a space or
// a line break right after the indicators, so "|#c" is an error there,
// while yaml.v3 reads it as a comment.
func checkBlockHeader(t *text, header int) error {
	i := header + 1
	for k := 0; k < 2 && i < len(t.data); k++ {
		c := t.data[i]
		if c != '+' && c != '-' && (c < '0' || c > '9') {
			break
		}
		i++
	}
	if i < len(t.data) && t.data[i] != ' ' && breakLen(t.data, i) == 0 {
		return t.errorAt(i, "expected a space or a line break after the block scalar indicators",
			"put a space between \"|\" or \">\" and what follows")
	}
	return nil
}

// pyyamlEscapes are the characters PyYAML 6.0 accepts after a backslash in
// a double-quoted scalar, besides x, u, U and line breaks. yaml.v3 also
// accepts "\'".
const pyyamlEscapes = "0abt\tnvfre \"\\/N_LP"

// checkEscapes checks the escapes of the double-quoted scalar whose opening
// quote is at offset start.
func checkEscapes(t *text, start int) error {
	data := t.data
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '"':
			return nil
		case '\\':
			if i+1 >= len(data) {
				return nil
			}
			c := data[i+1]
			switch {
			case strings.IndexByte(pyyamlEscapes, c) >= 0, c == 'x', c == 'u', c == 'U', breakLen(data, i+1) > 0:
			default:
				r, _ := utf8.DecodeRune(data[i+1:])
				return t.errorAt(i+1, fmt.Sprintf("found unknown escape character %q", r),
					"use single quotes, or write the character without a backslash")
			}
			i++
		}
	}
	return nil
}
