package yamlcheck

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// checkScalarSyntax checks two details of scalars where yaml.v3 is more
// lenient than PyYAML: block scalar headers and double-quoted escapes.
func checkScalarSyntax(t *text, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.MappingNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := checkScalarSyntax(t, c); err != nil {
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
		}
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
