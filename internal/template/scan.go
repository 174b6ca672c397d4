package template

import (
	"fmt"
	"strings"
)

// position is the kind of YAML node a placeholder is in.
type position int

const (
	// posScalar is a whole scalar node: a mapping value, a block sequence
	// item or a flow collection element.
	posScalar position = iota
	// posDoubleQuoted is inside a double-quoted scalar.
	posDoubleQuoted
	// posSingleQuoted is inside a single-quoted scalar.
	posSingleQuoted
)

// lineShape is the whole-line form of a posScalar placeholder's line, which
// lets list variables expand to block items or drop their key line.
type lineShape int

const (
	shapeOther lineShape = iota
	// shapeItem is a line "<indent>- {{ NAME }}".
	shapeItem
	// shapeKey is a line "<indent>key: {{ NAME }}" without a "- " before
	// the key.
	shapeKey
)

// placeholder is one {{ NAME }} found in a template file.
type placeholder struct {
	name       string
	line       int // 1-based
	start, end int // byte offsets of "{{" and after "}}" in the line
	pos        position
	shape      lineShape
}

// scanError is a problem in the template text itself.
type scanError struct {
	line int
	msg  string
}

var placeholderPattern = lazyRegexp(`^\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// flowKind is the kind of an open flow collection.
type flowKind byte

const (
	flowSequence flowKind = '['
	flowMapping  flowKind = '{'
)

// scanner classifies the YAML position of every placeholder in a file. It
// is not a full YAML parser: it tracks quotes, flow collections, comments,
// block scalars and the indicators "- ", "key: ", "[", "{" and ",". It
// accepts a placeholder only where the substituted text is sure to be one
// scalar, and reports every other placeholder as an error. After rendering,
// the output is still parsed with a real YAML parser.
type scanner struct {
	placeholders []placeholder
	errs         []scanError

	inDouble bool
	inSingle bool
	flows    []flowKind

	// blockScalar is true while the lines belong to a literal (|) or
	// folded (>) block scalar, whose content lines are indented more than
	// blockParent.
	blockScalar   bool
	blockParent   int
	pendingBlock  bool
	pendingParent int
}

func scanTemplate(text string) *scanner {
	s := &scanner{}
	for i, line := range strings.Split(text, "\n") {
		s.scanLine(i+1, strings.TrimSuffix(line, "\r"))
	}
	if s.inDouble || s.inSingle {
		s.errs = append(s.errs, scanError{0, "a quoted scalar is not closed at the end of the file"})
	}
	return s
}

func (s *scanner) fail(line int, format string, args ...any) {
	s.errs = append(s.errs, scanError{line, fmt.Sprintf(format, args...)})
}

func indentOf(line string) int {
	return len(line) - len(strings.TrimLeft(line, " "))
}

func (s *scanner) scanLine(n int, line string) {
	indent := indentOf(line)
	if s.blockScalar {
		if strings.TrimSpace(line) == "" || indent > s.blockParent {
			s.rejectAll(n, line, 0, "a block scalar (| or >)")
			return
		}
		s.blockScalar = false
	}
	if s.pendingBlock {
		// The indicator line is done, so the block's content starts here.
		s.pendingBlock = false
		if strings.TrimSpace(line) == "" || indent > s.pendingParent {
			s.blockScalar = true
			s.blockParent = s.pendingParent
			s.rejectAll(n, line, 0, "a block scalar (| or >)")
			return
		}
	}

	inFlow := len(s.flows) > 0
	continuing := s.inDouble || s.inSingle || inFlow
	// valuePos is true where a new node may start that is a value, not a
	// key: after "- ", "key: ", "[" and "," in a flow sequence.
	valuePos := inFlow && s.flows[len(s.flows)-1] == flowSequence
	// nodeStart is true where any new node (key or value) may start.
	nodeStart := true
	if continuing && !inFlow {
		nodeStart = false
	}
	// parentCol is the column of the innermost key or "-" on this line,
	// which bounds the indentation of a block scalar's content.
	parentCol := indent
	keyCol := -1
	// prefix records the indicators seen so far on this line, for shapes.
	prefix := ""

	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case s.inDouble:
			switch {
			case c == '\\':
				i += 2
				continue
			case c == '"':
				s.inDouble = false
			case strings.HasPrefix(line[i:], "{{"):
				i, _ = s.take(n, line, i, posDoubleQuoted, shapeOther)
				continue
			}
			i++
			continue
		case s.inSingle:
			switch {
			case strings.HasPrefix(line[i:], "''"):
				i += 2
				continue
			case c == '\'':
				s.inSingle = false
			case strings.HasPrefix(line[i:], "{{"):
				i, _ = s.take(n, line, i, posSingleQuoted, shapeOther)
				continue
			}
			i++
			continue
		}

		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			s.rejectAll(n, line, i, "a comment")
			return
		case strings.HasPrefix(line[i:], "{{"):
			if !valuePos {
				s.fail(n, "placeholder %s is in a key or after another token: a placeholder must be a whole value (after \"key: \", \"- \", \"[\" or \",\") or inside a quoted string", placeholderText(line[i:]))
				i = skipPlaceholder(line, i)
				continue
			}
			shape := shapeOther
			if len(s.flows) == 0 {
				switch prefix {
				case "-":
					shape = shapeItem
				case "k":
					shape = shapeKey
				}
			}
			end, ok := s.take(n, line, i, posScalar, shape)
			if !ok {
				return
			}
			if !endsNode(line[end:], len(s.flows) > 0) {
				s.fail(n, "placeholder %s is followed by more text: a placeholder that is not inside quotes must be the whole value; put the value in double quotes to combine it with text", placeholderText(line[i:]))
				// Stop here: the rest of the line is part of the same
				// malformed scalar.
				return
			}
			i = end
			valuePos = false
			nodeStart = false
		case c == '"' || c == '\'':
			if nodeStart && keyCol < 0 {
				keyCol = i
			}
			if c == '"' {
				s.inDouble = true
			} else {
				s.inSingle = true
			}
			valuePos = false
			nodeStart = false
			i++
		case c == '-' && nodeStart && len(s.flows) == 0 && (i+1 == len(line) || line[i+1] == ' '):
			parentCol = i
			keyCol = -1
			prefix += "-"
			valuePos = true
			i++
		case c == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t' || (len(s.flows) > 0 && strings.ContainsRune(",]}", rune(line[i+1])))):
			if keyCol >= 0 {
				parentCol = keyCol
			}
			keyCol = -1
			if len(s.flows) == 0 {
				prefix += "k"
			}
			valuePos = true
			nodeStart = true
			i++
		case c == '?' && nodeStart && (i+1 == len(line) || line[i+1] == ' '):
			valuePos = false
			i++
		case c == '[' || c == '{':
			s.flows = append(s.flows, flowKind(c))
			valuePos = c == '['
			nodeStart = true
			i++
		case (c == ']' || c == '}') && len(s.flows) > 0:
			s.flows = s.flows[:len(s.flows)-1]
			valuePos = false
			nodeStart = false
			i++
		case c == ',' && len(s.flows) > 0:
			valuePos = s.flows[len(s.flows)-1] == flowSequence
			nodeStart = true
			i++
		case (c == '|' || c == '>') && valuePos && len(s.flows) == 0:
			// A block scalar indicator; the rest of the line may hold
			// chomping and indentation indicators and a comment.
			rest := strings.TrimSpace(line[i+1:])
			if comment := strings.Index(rest, "#"); comment >= 0 {
				s.rejectAll(n, rest, comment, "a comment")
				rest = strings.TrimSpace(rest[:comment])
			}
			if strings.Trim(rest, "+-0123456789") != "" {
				s.fail(n, "unexpected text %q after a block scalar indicator", rest)
			}
			s.pendingBlock = true
			s.pendingParent = parentCol
			return
		case c == '&' || c == '!' || c == '*':
			// Anchors, tags and aliases: skip the token. A placeholder
			// after one is rejected because a tag could change how the
			// string is read.
			for i < len(line) && line[i] != ' ' && !(len(s.flows) > 0 && strings.ContainsRune(",]}", rune(line[i]))) {
				i++
			}
			valuePos = false
		default:
			// A plain scalar runs to ": ", " #", the end of the line, or in
			// a flow collection to one of ",[]{}".
			if nodeStart && keyCol < 0 {
				keyCol = i
			}
			i = s.plainScalar(n, line, i)
			valuePos = false
			nodeStart = false
		}
	}
}

// plainScalar skips a plain scalar starting at i and returns where it ends.
func (s *scanner) plainScalar(n int, line string, i int) int {
	inFlow := len(s.flows) > 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t'):
			return i
		case c == ':' && inFlow && strings.ContainsRune(",]}", rune(line[i+1])):
			return i
		case (c == ' ' || c == '\t') && i+1 < len(line) && line[i+1] == '#':
			return i
		case inFlow && strings.ContainsRune(",[]{}", rune(c)):
			return i
		case strings.HasPrefix(line[i:], "{{"):
			s.fail(n, "placeholder %s is inside a plain (unquoted) scalar: put the whole value in double quotes, or make the placeholder the whole value", placeholderText(line[i:]))
			i = skipPlaceholder(line, i)
			continue
		}
		i++
	}
	return i
}

// take records the placeholder at line[i:] and returns the offset after it.
// ok is false when the text is not a well-formed placeholder.
func (s *scanner) take(n int, line string, i int, pos position, shape lineShape) (end int, ok bool) {
	m := placeholderPattern().FindStringSubmatchIndex(line[i:])
	if m == nil {
		s.fail(n, "malformed placeholder %s: write {{ NAME }} with a variable name of A-Z, 0-9 and '_'; \"{{\" is reserved for placeholders", placeholderText(line[i:]))
		return i + 2, false
	}
	s.placeholders = append(s.placeholders, placeholder{
		name:  line[i+m[2] : i+m[3]],
		line:  n,
		start: i,
		end:   i + m[1],
		pos:   pos,
		shape: shape,
	})
	return i + m[1], true
}

// rejectAll reports every placeholder in line[from:], which is in a place
// where no value may be inserted.
func (s *scanner) rejectAll(n int, line string, from int, where string) {
	for {
		j := strings.Index(line[from:], "{{")
		if j < 0 {
			return
		}
		from += j
		s.fail(n, "placeholder %s is inside %s, where values cannot be inserted safely: move it to a mapping value or a quoted string", placeholderText(line[from:]), where)
		from = skipPlaceholder(line, from)
	}
}

// endsNode reports whether rest, the text after a whole-value placeholder,
// ends the node: only spaces, a comment, or in a flow collection ",", "]"
// or "}".
func endsNode(rest string, inFlow bool) bool {
	trimmed := strings.TrimLeft(rest, " \t")
	switch {
	case trimmed == "":
		return true
	case trimmed[0] == '#':
		return len(trimmed) < len(rest) // a comment needs a space before it
	case inFlow:
		return strings.ContainsRune(",]}", rune(trimmed[0]))
	}
	return false
}

func skipPlaceholder(line string, i int) int {
	if m := placeholderPattern().FindStringIndex(line[i:]); m != nil {
		return i + m[1]
	}
	return i + 2
}

// placeholderText returns the placeholder at the start of s for messages.
func placeholderText(s string) string {
	if m := placeholderPattern().FindString(s); m != "" {
		return m
	}
	if end := strings.Index(s, "}}"); end >= 0 && end < 60 {
		return fmt.Sprintf("%q", s[:end+2])
	}
	return quoteShort(s)
}
