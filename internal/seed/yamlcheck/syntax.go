package yamlcheck

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// yamlErrorRE splits a yaml.v3 syntax error into its line and problem.
// yaml.v3 omits the line on the first line, and for some errors reports the
// line of the enclosing construct rather than of the problem.
var yamlErrorRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// maxLocateBytes bounds the work of locateSyntaxError, which parses one
// prefix of the document per line and per character of the failing line.
const maxLocateBytes = 256 << 10

// locateSyntaxError turns a yaml.v3 syntax error into an *Error with the
// position of the problem. yaml.v3 reports no column, so the position is
// where the shortest prefix of the document that fails with the same
// problem ends: the first line whose prefix fails, then the first character
// on it.
//
// NOTE: the position found this way matches PyYAML's mark for most errors.
// For a construct left open (an unclosed quote or bracket) it points near
// the start of that construct, where PyYAML points at the end of the stream
// or at the next token.
func locateSyntaxError(t *text, input []byte, parseErr error) *Error {
	m := yamlErrorRE.FindStringSubmatch(parseErr.Error())
	if m == nil {
		return &Error{Line: 1, Problem: parseErr.Error()}
	}
	problem := m[2]
	line := 1
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
	}
	result := &Error{Line: line, Problem: problem, Hint: syntaxHint(t, problem, line)}
	if len(input) > maxLocateBytes {
		return result
	}

	failsSame := func(end int) bool {
		err := parseFirstDocument(input[:end])
		if err == nil {
			return false
		}
		sub := yamlErrorRE.FindStringSubmatch(err.Error())
		return sub != nil && sub[2] == problem
	}
	for i, start := range t.lineStarts {
		end := t.lineEnd(start)
		if !failsSame(end) {
			continue
		}
		for off := start; off < end; {
			_, size := utf8.DecodeRune(input[off:])
			off += size
			if failsSame(off) {
				result.Line, result.Column = t.position(off - size)
				result.Hint = syntaxHint(t, problem, result.Line)
				return result
			}
		}
		result.Line, result.Column = i+1, 1
		result.Hint = syntaxHint(t, problem, result.Line)
		return result
	}
	return result
}

func parseFirstDocument(input []byte) error {
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(input)).Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// syntaxHint suggests a fix for the common yaml.v3 syntax errors.
func syntaxHint(t *text, problem string, line int) string {
	if line >= 1 && line <= len(t.lineStarts) {
		start := t.lineStarts[line-1]
		if bytes.IndexByte(t.data[start:t.lineEnd(start)], '\t') >= 0 {
			return "replace the tabs on this line with spaces"
		}
	}
	switch {
	case strings.Contains(problem, "mapping values are not allowed"):
		return "quote the value if it contains \": \", or fix the indentation of this line"
	case strings.Contains(problem, "did not find expected key"),
		strings.Contains(problem, "did not find expected '-' indicator"),
		strings.Contains(problem, "block sequence entries are not allowed"):
		return "check that this line is indented like the other entries at its level"
	case strings.Contains(problem, "could not find expected ':'"):
		return "add \": \" after the key, or quote the text"
	case strings.Contains(problem, "found unexpected end of stream"):
		return "close the quote or bracket that is still open"
	case strings.Contains(problem, "did not find expected ',' or"):
		return "close the bracket or brace, or separate the items with commas"
	case strings.Contains(problem, "found character that cannot start any token"):
		return "quote the value; \"@\" and \"`\" cannot start a plain value"
	case strings.Contains(problem, "found unknown escape character"):
		return "use single quotes, or escape the backslash as \"\\\\\""
	}
	return ""
}
