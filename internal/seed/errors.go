package seed

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// InputError is an input that cloud-init would reject or misread.
type InputError struct {
	// Source names the input, such as a file path or "user-data.yaml part 2".
	Source string
	// Line and Column are 1-based, or 0 when unknown.
	Line, Column int
	// Problem is what is wrong.
	Problem string
	// Hint is how to fix it, or empty.
	Hint string
	// Err is the underlying error, if any.
	Err error
}

func (e *InputError) Error() string {
	var b bytes.Buffer
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// Warning is a fix applied to an input, or a problem that does not stop
// cloud-init.
type Warning struct {
	Source  string
	Line    int // 1-based, or 0 when the warning is about the whole input
	Message string
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", w.Source, w.Line, w.Message)
	}
	return w.Source + ": " + w.Message
}

// position returns the 1-based line and column (in characters) of a byte
// offset, counting LF, CRLF and CR as line ends.
func position(data []byte, offset int) (line, column int) {
	line = 1
	lineStart := 0
	for i := 0; i < offset && i < len(data); i++ {
		switch {
		case data[i] == '\n':
			line++
			lineStart = i + 1
		case data[i] == '\r' && (i+1 >= len(data) || data[i+1] != '\n'):
			line++
			lineStart = i + 1
		}
	}
	end := min(offset, len(data))
	return line, utf8.RuneCount(data[lineStart:end]) + 1
}

// checkUTF8 returns an *InputError naming the first invalid UTF-8 byte.
func checkUTF8(source string, data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	offset := 0
	for offset < len(data) {
		r, size := utf8.DecodeRune(data[offset:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		offset += size
	}
	line, column := position(data, offset)
	return &InputError{
		Source:  source,
		Line:    line,
		Column:  column,
		Problem: fmt.Sprintf("invalid UTF-8 byte 0x%02X at byte offset %d", data[offset], offset),
		Hint:    "save the file as UTF-8; cloud-init reads user-data, meta-data and network-config as UTF-8",
	}
}
