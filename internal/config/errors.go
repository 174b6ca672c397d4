package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one invalid key or value in a config file.
type Problem struct {
	// Key is the dotted key, such as "limits.max_connections"; empty for a
	// syntax error.
	Key string
	// Line and Column give the position in the file, 1-based; zero when the
	// problem has no position, such as a derived default.
	Line, Column int
	// Message says what is wrong and how to fix it.
	Message string
}

func (p Problem) String() string {
	switch {
	case p.Line > 0 && p.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, p.Message)
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return p.Message
}

// Error lists every problem found in one config file.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "invalid config file %s: %s", e.File, e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "invalid config file %s: %d problems:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// sortProblems orders problems by position; problems without a position
// come last, in the order found.
func sortProblems(problems []Problem) {
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

var yamlLinePrefix = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// syntaxProblem turns a YAML parser error into a Problem with its line.
func syntaxProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLinePrefix.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Message: "invalid YAML: " + msg[len(m[0]):]}
	}
	return Problem{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
