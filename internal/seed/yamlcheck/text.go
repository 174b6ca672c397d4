package yamlcheck

import (
	"fmt"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// text is the source document with its line starts, for converting between
// byte offsets and the 1-based line and column (in characters) that yaml.v3
// and PyYAML report.
type text struct {
	data []byte
	// lineStarts holds the byte offset where each line begins. Line breaks
	// are CRLF, CR, LF, NEL (U+0085), LS (U+2028) and PS (U+2029), as in
	// YAML 1.1, PyYAML and yaml.v3.
	lineStarts []int
}

func newText(data []byte) *text {
	t := &text{data: data, lineStarts: []int{0}}
	for i := 0; i < len(data); {
		n := breakLen(data, i)
		if n > 0 {
			i += n
			t.lineStarts = append(t.lineStarts, i)
			continue
		}
		i++
	}
	return t
}

// breakLen returns the length in bytes of the line break at data[i], or 0.
func breakLen(data []byte, i int) int {
	switch {
	case data[i] == '\n':
		return 1
	case data[i] == '\r':
		if i+1 < len(data) && data[i+1] == '\n' {
			return 2
		}
		return 1
	case data[i] == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
		return 2
	case data[i] == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
		return 3
	}
	return 0
}

// lineEnd returns the offset of the line break that ends the line starting
// at offset start, or len(data).
func (t *text) lineEnd(start int) int {
	for i := start; i < len(t.data); i++ {
		if breakLen(t.data, i) > 0 {
			return i
		}
	}
	return len(t.data)
}

// position returns the 1-based line and column of a byte offset.
func (t *text) position(offset int) (line, column int) {
	lo, hi := 0, len(t.lineStarts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if t.lineStarts[mid] <= offset {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	start := t.lineStarts[lo]
	return lo + 1, utf8.RuneCount(t.data[start:offset]) + 1
}

// offset returns the byte offset of a 1-based line and column, clamped to
// the end of that line.
func (t *text) offset(line, column int) int {
	if line < 1 {
		return 0
	}
	if line > len(t.lineStarts) {
		return len(t.data)
	}
	i := t.lineStarts[line-1]
	end := t.lineEnd(i)
	for c := 1; c < column && i < end; c++ {
		_, size := utf8.DecodeRune(t.data[i:])
		i += size
	}
	return i
}

func (t *text) nodeOffset(n *yaml.Node) int {
	return t.offset(n.Line, n.Column)
}

func (t *text) errorAt(offset int, problem, hint string) *Error {
	line, column := t.position(offset)
	return &Error{Line: line, Column: column, Problem: problem, Hint: hint}
}

func (t *text) checkUTF8() error {
	if off := invalidUTF8Offset(t.data); off >= 0 {
		return t.errorAt(off, fmt.Sprintf("invalid UTF-8 byte 0x%02X at byte offset %d", t.data[off], off),
			"save the file as UTF-8")
	}
	return nil
}

// checkPrintable rejects the characters that PyYAML's Reader rejects
// anywhere in the stream, comments and quoted scalars included. PyYAML
// accepts TAB, LF, CR, U+0020-U+007E, NEL (U+0085), U+00A0-U+D7FF,
// U+E000-U+FFFD and U+10000-U+10FFFF.
func (t *text) checkPrintable() error {
	for i := 0; i < len(t.data); {
		r, size := utf8.DecodeRune(t.data[i:])
		if !pyyamlPrintable(r) {
			return t.errorAt(i, fmt.Sprintf("unacceptable character %U: control characters are not allowed", r),
				"remove it, or write it as an escape such as \"\\x07\" inside a double-quoted string")
		}
		i += size
	}
	return nil
}

func pyyamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r >= 0x20 && r <= 0x7E:
		return true
	case r == 0x85:
		return true
	case r >= 0xA0 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// secondDocumentLine returns the line of the document start marker ("---")
// or directive ("%") that begins the second document, for streams where
// yaml.v3 could not parse that document.
func (t *text) secondDocumentLine(first *yaml.Node) int {
	firstLine := first.Line
	if len(first.Content) > 0 {
		firstLine = first.Content[0].Line
	}
	for i, start := range t.lineStarts {
		if i+1 <= firstLine {
			continue
		}
		rest := t.data[start:t.lineEnd(start)]
		if len(rest) > 0 && rest[0] == '%' {
			return i + 1
		}
		if len(rest) >= 3 && string(rest[:3]) == "---" && (len(rest) == 3 || rest[3] == ' ' || rest[3] == '\t') {
			return i + 1
		}
	}
	return len(t.lineStarts)
}
