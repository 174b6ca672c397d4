package yamlcheck

import (
	"bytes"
	"strconv"
)

// normalizeDirectives returns the input to give yaml.v3, which accepts only
// "%YAML 1.1" and rejects reserved directives such as "%FOO bar". PyYAML
// 6.0 accepts any "%YAML 1.x" (and parses it as 1.1) and ignores reserved
// directives. So the directive lines before the first document are checked
// here by PyYAML's rules, then rewritten to forms yaml.v3 accepts. The
// rewritten lines keep their length, so positions do not move. "%TAG" lines are left to
// yaml.v3, which follows the same rules as PyYAML for them.
func normalizeDirectives(t *text) ([]byte, error) {
	var out []byte
	sawDirective, sawYAML := false, false
	for line, start := range t.lineStarts {
		end := t.lineEnd(start)
		content := t.data[start:end]
		trimmed := bytes.TrimLeft(content, " ")
		switch {
		case len(trimmed) == 0 || trimmed[0] == '#':
			continue
		case content[0] != '%':
			if sawDirective && !isDocumentStart(content) {
				return nil, &Error{Line: line + 1, Column: 1,
					Problem: "expected a document start (\"---\") after the directives",
					Hint:    "add a line \"---\" after the last line that starts with %"}
			}
			if out == nil {
				return t.data, nil
			}
			return out, nil
		}

		sawDirective = true
		name, nameEnd := directiveName(content)
		if name == "" || nameEnd < len(content) && content[nameEnd] != ' ' {
			return nil, t.errorAt(start+nameEnd, "expected a directive name of letters and digits after \"%\"",
				"write \"%YAML 1.1\", or quote the text if it is not a directive")
		}
		switch name {
		case "TAG":
			continue
		case "YAML":
			if sawYAML {
				return nil, t.errorAt(start, "found duplicate YAML directive", "keep one %YAML line")
			}
			sawYAML = true
			versionStart, versionEnd, err := t.checkYAMLVersion(start, nameEnd)
			if err != nil {
				return nil, err
			}
			if out == nil {
				out = bytes.Clone(t.data)
			}
			replacement := []byte("1.1")
			for i := start + versionStart; i < start+versionEnd; i++ {
				out[i] = ' '
			}
			copy(out[start+versionStart:], replacement)
		default:
			if out == nil {
				out = bytes.Clone(t.data)
			}
			out[start] = '#'
		}
	}
	if sawDirective {
		return nil, &Error{Line: len(t.lineStarts), Column: 1,
			Problem: "expected a document start (\"---\") after the directives, but found the end of the stream",
			Hint:    "add a line \"---\" after the last line that starts with %"}
	}
	if out == nil {
		return t.data, nil
	}
	return out, nil
}

func isDocumentStart(line []byte) bool {
	return bytes.HasPrefix(line, []byte("---")) && (len(line) == 3 || line[3] == ' ' || line[3] == '\t')
}

// directiveName returns the name after "%" and the offset where it ends.
func directiveName(line []byte) (string, int) {
	i := 1
	for i < len(line) && isAnchorChar(line[i]) {
		i++
	}
	return string(line[1:i]), i
}

// checkYAMLVersion checks a "%YAML major.minor" line starting at offset
// start (the name ends at nameEnd within the line) and returns where the
// version token lies within the line. PyYAML accepts any major version 1
// with any minor version.
func (t *text) checkYAMLVersion(start, nameEnd int) (versionStart, versionEnd int, err error) {
	line := t.data[start:t.lineEnd(start)]
	i := nameEnd
	for i < len(line) && line[i] == ' ' {
		i++
	}
	versionStart = i
	digits := func() string {
		from := i
		for i < len(line) && line[i] >= '0' && line[i] <= '9' {
			i++
		}
		return string(line[from:i])
	}
	major := digits()
	if major == "" || i >= len(line) || line[i] != '.' {
		return 0, 0, t.errorAt(start+i, "expected a YAML version such as 1.1 in the %YAML directive", "write \"%YAML 1.1\" or remove the line")
	}
	i++
	if digits() == "" {
		return 0, 0, t.errorAt(start+i, "expected a digit in the %YAML version", "write \"%YAML 1.1\" or remove the line")
	}
	versionEnd = i
	if i < len(line) && line[i] != ' ' {
		return 0, 0, t.errorAt(start+i, "expected a digit or a space after the %YAML version", "put a space before the comment")
	}
	if n, _ := strconv.Atoi(major); n != 1 {
		return 0, 0, t.errorAt(start+versionStart, "found incompatible YAML document (version 1.* is required)", "write \"%YAML 1.1\" or remove the line")
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i < len(line) && line[i] != '#' {
		return 0, 0, t.errorAt(start+i, "expected a comment or a line break after the %YAML version", "remove the text after the version")
	}
	return versionStart, versionEnd, nil
}
