package yamlcheck

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// PyYAML's scanner skips only spaces between tokens, ends plain scalars at
// a tab, and reads block scalar indentation as spaces only. A tab is
// therefore accepted only inside a quoted scalar, in the content of a block
// scalar past its indentation, and in a comment. yaml.v3 follows libyaml,
// which also accepts tabs after ":" and "," and at the end of a line.

// collectSpans marks the bytes where PyYAML accepts a tab. It returns nil
// when the document has no tab, which is the common case.
func collectSpans(t *text, root *yaml.Node) []bool {
	if !bytes.ContainsRune(t.data, '\t') {
		return nil
	}
	allowed := make([]bool, len(t.data))
	m := &spanMarker{text: t, allowed: allowed}
	m.walk(root, -1)
	m.markComments()
	return allowed
}

func checkTabs(t *text, allowed []bool) error {
	if allowed == nil {
		return nil
	}
	for i, b := range t.data {
		if b == '\t' && !allowed[i] {
			return t.errorAt(i, "found a tab character where PyYAML accepts only spaces",
				"replace the tab with spaces; PyYAML, which cloud-init uses, accepts tabs only in quoted strings, block scalars (| and >) and comments")
		}
	}
	return nil
}

type spanMarker struct {
	text    *text
	allowed []bool
}

// walk marks quoted and block scalars below n. parentIndent is the column
// (0-based) of the innermost enclosing block collection, -1 at the top,
// which PyYAML uses as the minimum indentation of a block scalar.
func (m *spanMarker) walk(n *yaml.Node, parentIndent int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			m.walk(c, -1)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		indent := parentIndent
		if n.Style&yaml.FlowStyle == 0 && len(n.Content) > 0 {
			indent = m.blockIndent(n)
		}
		for _, c := range n.Content {
			m.walk(c, indent)
		}
	case yaml.ScalarNode:
		content, _ := m.text.skipProperties(m.text.nodeOffset(n))
		switch {
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
			m.markQuoted(content)
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			m.markBlockScalar(content, parentIndent)
		}
	}
}

// blockIndent returns the 0-based column of a block collection: the column
// of its first key (or "?") for a mapping, of its first "-" for a sequence.
func (m *spanMarker) blockIndent(n *yaml.Node) int {
	t := m.text
	first := t.nodeOffset(n.Content[0])
	i := first - 1
	for i >= 0 && (t.data[i] == ' ' || t.data[i] == '\t' || t.data[i] == '\n' || t.data[i] == '\r') {
		i--
	}
	indicator := byte('-')
	if n.Kind == yaml.MappingNode {
		indicator = '?'
	}
	if i >= 0 && t.data[i] == indicator {
		_, column := t.position(i)
		return column - 1
	}
	if n.Kind == yaml.MappingNode {
		return n.Content[0].Column - 1
	}
	return n.Column - 1
}

func (m *spanMarker) mark(start, end int) {
	for i := start; i < end && i < len(m.allowed); i++ {
		m.allowed[i] = true
	}
}

// markQuoted marks a quoted scalar from its opening to its closing quote.
func (m *spanMarker) markQuoted(start int) {
	data := m.text.data
	if start >= len(data) {
		return
	}
	quote := data[start]
	i := start + 1
	for i < len(data) {
		switch {
		case quote == '"' && data[i] == '\\':
			i += 2
			continue
		case quote == '\'' && data[i] == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i += 2
			continue
		case data[i] == quote:
			m.mark(start, i+1)
			return
		}
		i++
	}
	m.mark(start, len(data))
}

// markBlockScalar marks the content of a block scalar whose indicator ("|"
// or ">") is at offset header: on each content line, everything past the
// block's indentation.
func (m *spanMarker) markBlockScalar(header, parentIndent int) {
	t := m.text
	data := t.data
	increment := 0
	for i, k := header+1, 0; k < 2 && i < len(data); i, k = i+1, k+1 {
		c := data[i]
		if c >= '1' && c <= '9' {
			increment = int(c - '0')
		} else if c != '+' && c != '-' {
			break
		}
	}
	headerLine, _ := t.position(header)
	minIndent := parentIndent + 1
	if minIndent < 1 {
		minIndent = 1
	}

	indent := minIndent + increment - 1
	if increment == 0 {
		maxIndent := 0
		for line := headerLine; line < len(t.lineStarts); line++ {
			spaces, blank := t.leadingSpaces(line)
			maxIndent = max(maxIndent, spaces)
			if !blank {
				break
			}
		}
		indent = max(minIndent, maxIndent)
	}

	for line := headerLine; line < len(t.lineStarts); line++ {
		start := t.lineStarts[line]
		spaces, blank := t.leadingSpaces(line)
		if spaces >= indent {
			m.mark(start+indent, t.lineEnd(start))
			continue
		}
		if !blank {
			return
		}
	}
}

// leadingSpaces counts the spaces that begin a line (0-based index) and
// reports whether nothing else is on it.
func (t *text) leadingSpaces(line int) (spaces int, blank bool) {
	start := t.lineStarts[line]
	end := t.lineEnd(start)
	i := start
	for i < end && t.data[i] == ' ' {
		i++
	}
	return i - start, i == end
}

// markComments marks every comment: from a "#" that starts a line or
// follows a space or tab, outside scalars already marked, to the end of
// its line. PyYAML also starts a comment at a "#" right after a flow
// indicator or a closing quote. Those are left unmarked, so Check rejects a
// tab in them although PyYAML accepts it.
func (m *spanMarker) markComments() {
	t := m.text
	for _, start := range t.lineStarts {
		end := t.lineEnd(start)
		for i := start; i < end; i++ {
			if m.allowed[i] || t.data[i] != '#' {
				continue
			}
			if i == start || t.data[i-1] == ' ' || t.data[i-1] == '\t' {
				m.mark(i, end)
				break
			}
		}
	}
}

// skipProperties skips the anchor and tag that may precede a node at
// offset off, with the space after them, and returns where the node's
// content starts and the tag as written ("" when there is none).
func (t *text) skipProperties(off int) (content int, rawTag string) {
	data := t.data
	for off < len(data) {
		switch data[off] {
		case '&':
			off++
			for off < len(data) && isAnchorChar(data[off]) {
				off++
			}
		case '!':
			start := off
			if off+1 < len(data) && data[off+1] == '<' {
				for off < len(data) && data[off] != '>' {
					off++
				}
				if off < len(data) {
					off++
				}
			} else {
				for off < len(data) && !isBlankOrBreak(data[off]) {
					off++
				}
			}
			rawTag = string(data[start:off])
		default:
			return off, rawTag
		}
		off = t.skipSeparation(off)
	}
	return off, rawTag
}

// skipSeparation skips spaces, tabs, line breaks and comments.
func (t *text) skipSeparation(off int) int {
	data := t.data
	for off < len(data) {
		switch {
		case data[off] == ' ' || data[off] == '\t':
			off++
		case data[off] == '#':
			off = t.lineEnd(off)
		case breakLen(data, off) > 0:
			off += breakLen(data, off)
		default:
			return off
		}
	}
	return off
}

func isAnchorChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
}

func isBlankOrBreak(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}
