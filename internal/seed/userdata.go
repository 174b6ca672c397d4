package seed

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vmgenie/vmgenie/internal/seed/yamlcheck"
)

// format is a user-data format that cloud-init recognises by the start of
// the document (cloudinit/handlers/__init__.py, INCLUSION_TYPES_MAP in
// cloud-init 22.4).
type format struct {
	header      string
	contentType string
}

// formats is sorted longest header first, the order in which cloud-init
// tries them, so "#cloud-config-archive" is not read as "#cloud-config".
var formats = []format{
	{"#cloud-config-archive", "text/cloud-config-archive"},
	{"#cloud-config-jsonp", "text/cloud-config-jsonp"},
	{"## template: jinja", "text/jinja2"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"#cloud-config", "text/cloud-config"},
	{"#include-once", "text/x-include-once-url"},
	{"#part-handler", "text/part-handler"},
	{"#include", "text/x-include-url"},
	{"#!", "text/x-shellscript"},
}

// Content types of MIME parts.
const (
	typeCloudConfig = "text/cloud-config"
	typeShellScript = "text/x-shellscript"
	typeBoothook    = "text/cloud-boothook"
	typeJinja       = "text/jinja2"
	typeArchive     = "text/cloud-config-archive"
	typeJSONPatch   = "text/cloud-config-jsonp"
)

// acceptedHeaders lists the headers for error messages.
func acceptedHeaders() string {
	names := make([]string, 0, len(formats)+1)
	for _, f := range formats {
		names = append(names, f.header)
	}
	names = append(names, "a MIME multipart message", "gzip of any of these")
	return strings.Join(names, ", ")
}

// detectFormat finds the format of content the way cloud-init does: it
// skips leading whitespace and compares the start without regard to case.
func detectFormat(content []byte) (format, bool) {
	start := bytes.TrimLeft(content, " \t\r\n\v\f")
	for _, f := range formats {
		if len(start) >= len(f.header) && strings.EqualFold(string(start[:len(f.header)]), f.header) {
			return f, true
		}
	}
	return format{}, false
}

// part is one user-data part, the unit that cloud-init hands to a handler.
type part struct {
	// origin names the part in messages.
	origin      string
	contentType string
	// header holds the headers kept from the user's MIME part, such as
	// Content-Disposition and Merge-Type. Content-Type and
	// Content-Transfer-Encoding are set when the part is written.
	header  textproto.MIMEHeader
	content []byte
}

// document is one parsed user-data or vendor-data input.
type document struct {
	source Source
	parts  []part
	// asGiven is true when the source bytes can be written unchanged:
	// no fix was applied to them.
	asGiven bool
	// mime is true when the source was a MIME message.
	mime bool
}

// maxGunzipBytes bounds the size of gunzipped user-data, against a
// compressed file that expands without end.
const maxGunzipBytes = 64 << 20

func isGzip(data []byte) bool {
	return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
}

func gunzip(source string, data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, &InputError{Source: source, Problem: "starts like gzip but is not valid gzip: " + err.Error(),
			Hint: "compress it again with gzip, or give the uncompressed file", Err: err}
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxGunzipBytes+1))
	if err != nil {
		return nil, &InputError{Source: source, Problem: "gunzip failed: " + err.Error(),
			Hint: "compress it again with gzip, or give the uncompressed file", Err: err}
	}
	if len(out) > maxGunzipBytes {
		return nil, &InputError{Source: source, Problem: fmt.Sprintf("gunzipped content is larger than %d MiB", maxGunzipBytes>>20),
			Hint: "give a smaller file"}
	}
	return out, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// isMIME reports whether cloud-init reads data as a MIME message: it looks
// for "mime-version:" in the first 4096 bytes (convert_string in
// cloudinit/user_data.py).
func isMIME(data []byte) bool {
	head := data[:min(len(data), 4096)]
	return bytes.Contains(bytes.ToLower(head), []byte("mime-version:"))
}

// parseDocument reads a user-data or vendor-data input in any format that
// cloud-init accepts and checks each of its parts.
func (b *builder) parseDocument(src Source) (*document, error) {
	doc := &document{source: src, asGiven: true}
	name := src.Name
	data := src.Data
	if isGzip(data) {
		var err error
		if data, err = gunzip(name, data); err != nil {
			return nil, err
		}
		name += " (gunzipped)"
	}
	if bytes.HasPrefix(data, utf8BOM) {
		data = data[len(utf8BOM):]
		doc.asGiven = false
		b.warn(name, 0, "removed the UTF-8 byte-order mark at the start, which hides the first line from cloud-init")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		b.warn(name, 0, "is empty, so cloud-init does nothing with it")
		return doc, nil
	}

	if isMIME(data) {
		doc.mime = true
		parts, changed, err := b.parseMIME(name, data)
		if err != nil {
			return nil, err
		}
		doc.parts = parts
		doc.asGiven = doc.asGiven && !changed
		return doc, nil
	}
	p, changed, err := b.checkPart(part{origin: name, content: data}, "")
	if err != nil {
		return nil, err
	}
	doc.parts = []part{p}
	doc.asGiven = doc.asGiven && !changed
	return doc, nil
}

// checkPart finds the content type of p (declared is the type given by a
// MIME header, or "" for a plain document), applies the fixes for that
// type, and checks the content. changed reports whether a fix altered the
// content.
func (b *builder) checkPart(p part, declared string) (out part, changed bool, err error) {
	text := declared == "" || strings.HasPrefix(declared, "text/")
	if text && bytes.HasPrefix(p.content, utf8BOM) {
		p.content = p.content[len(utf8BOM):]
		changed = true
		b.warn(p.origin, 0, "removed the UTF-8 byte-order mark at the start, which hides the first line from cloud-init")
	}
	if text {
		if err := checkUTF8(p.origin, p.content); err != nil {
			return p, changed, err
		}
	}

	p.contentType = declared
	switch declared {
	case "", "text/plain", "text/x-not-multipart", typeShellScript:
		// cloud-init finds the type of these from the content.
		f, ok := detectFormat(p.content)
		switch {
		case ok:
			p.contentType = f.contentType
		case declared == typeShellScript:
			return p, changed, &InputError{Source: p.origin, Line: 1, Column: 1,
				Problem: "is declared text/x-shellscript but does not start with \"#!\"",
				Hint:    "add an interpreter line such as \"#!/bin/sh\" at the top"}
		case declared == "":
			return p, changed, &InputError{Source: p.origin, Line: 1, Column: 1,
				Problem: fmt.Sprintf("unrecognised first line %q", firstLine(p.content)),
				Hint:    "start the file with one of the headers cloud-init accepts: " + acceptedHeaders()}
		default:
			return p, changed, &InputError{Source: p.origin, Line: 1, Column: 1,
				Problem: fmt.Sprintf("has Content-Type %s and an unrecognised first line %q, so cloud-init ignores it", declared, firstLine(p.content)),
				Hint:    "set the part's Content-Type (such as text/cloud-config), or start it with one of: " + acceptedHeaders()}
		}
	}

	fixed, err := b.checkContent(&p)
	return p, changed || fixed, err
}

// checkContent applies the fixes and checks for p's content type and
// reports whether it changed the content.
func (b *builder) checkContent(p *part) (changed bool, err error) {
	switch p.contentType {
	case typeShellScript, typeBoothook, typeJinja,
		"text/x-shellscript-per-boot", "text/x-shellscript-per-instance", "text/x-shellscript-per-once":
		changed = b.convertCRLF(p)
	}

	switch p.contentType {
	case typeShellScript:
		if !bytes.HasPrefix(p.content, []byte("#!")) {
			return changed, &InputError{Source: p.origin, Line: 1, Column: 1,
				Problem: "has text before \"#!\", so the guest cannot execute it",
				Hint:    "remove the blank lines or spaces before \"#!\""}
		}
	case typeBoothook:
		if second := nthLine(p.content, 2); !strings.HasPrefix(second, "#!") {
			b.warn(p.origin, 2, "the line after #cloud-boothook is not an interpreter line (\"#!/bin/sh\"), so the guest may fail to execute the boothook")
		}
	case typeJinja:
		if line, body := jinjaBodyStart(p.content); body != "" && !strings.HasPrefix(body, "{") {
			if _, ok := detectFormat([]byte(body)); !ok {
				b.warn(p.origin, line, "the template body does not start with a known header, so cloud-init ignores the rendered template; start it with one such as #cloud-config")
			}
		}
	case typeCloudConfig:
		return changed, b.checkCloudConfig(p)
	case typeArchive:
		return changed, b.checkArchive(p)
	case typeJSONPatch:
		return changed, checkJSONPatch(p)
	}
	return changed, nil
}

// convertCRLF converts CRLF line ends to LF, because "#!/bin/sh\r" names
// an interpreter that does not exist.
func (b *builder) convertCRLF(p *part) bool {
	n := bytes.Count(p.content, []byte("\r\n"))
	if n == 0 {
		return false
	}
	p.content = bytes.ReplaceAll(p.content, []byte("\r\n"), []byte("\n"))
	b.warn(p.origin, 0, fmt.Sprintf("converted %d CRLF line ends to LF, because the guest's shell reads \"\\r\" as part of each line", n))
	return true
}

// checkCloudConfig checks a cloud-config part as cloud-init loads it. CRLF
// line ends are left alone there, since PyYAML reads CRLF as one line break,
// also inside block scalars.
func (b *builder) checkCloudConfig(p *part) error {
	result, err := yamlcheck.Check(p.content)
	if err != nil {
		return yamlInputError(p.origin, err)
	}
	for _, w := range result.Warnings {
		b.warn(p.origin, w.Line, w.Message)
	}
	switch {
	case result.Root == nil || isNull(result.Root):
		b.warn(p.origin, 0, "has no settings, so cloud-init skips it")
	case result.Root.Kind != yaml.MappingNode:
		return &InputError{Source: p.origin, Line: result.Root.Line, Column: result.Root.Column,
			Problem: "the top level of a cloud-config must be a mapping of keys to values, not a " + nodeKind(result.Root),
			Hint:    "write settings as \"key: value\" lines, such as \"packages: [curl]\""}
	}
	return nil
}

func (b *builder) checkArchive(p *part) error {
	result, err := yamlcheck.Check(p.content)
	if err != nil {
		return yamlInputError(p.origin, err)
	}
	if result.Root != nil && result.Root.Kind != yaml.SequenceNode && !isNull(result.Root) {
		return &InputError{Source: p.origin, Line: result.Root.Line, Column: result.Root.Column,
			Problem: "the top level of a cloud-config-archive must be a list, not a " + nodeKind(result.Root),
			Hint:    "write one \"- content: ...\" item per part"}
	}
	return nil
}

// checkJSONPatch checks that a #cloud-config-jsonp part is a JSON array,
// the RFC 6902 patch that cloud-init applies.
func checkJSONPatch(p *part) error {
	body := bytes.TrimLeft(p.content, " \t\r\n")
	body = body[len("#cloud-config-jsonp"):]
	var patch []json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		// The offset points at the invalid JSON, or at the start of the
		// patch when it is valid JSON of the wrong type.
		bodyStart := len(p.content) - len(bytes.TrimLeft(body, " \t\r\n"))
		offset := bodyStart
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			offset = len(p.content) - len(body) + int(syntax.Offset) - 1
		}
		line, column := position(p.content, offset)
		return &InputError{Source: p.origin, Line: line, Column: column,
			Problem: "invalid JSON patch: " + err.Error(),
			Hint:    "write a JSON array of operations after the header, such as [{\"op\": \"add\", \"path\": \"/packages/-\", \"value\": \"curl\"}]", Err: err}
	}
	return nil
}

// yamlInputError turns a yamlcheck error into an *InputError for source.
func yamlInputError(source string, err error) error {
	var ye *yamlcheck.Error
	if errors.As(err, &ye) {
		return &InputError{Source: source, Line: ye.Line, Column: ye.Column,
			Problem: "invalid YAML: " + ye.Problem, Hint: ye.Hint, Err: err}
	}
	return &InputError{Source: source, Problem: "invalid YAML: " + err.Error(), Err: err}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar value"
}

// jinjaBodyStart returns the first line of a jinja template after its
// header that is neither blank nor only a jinja statement or comment, which
// render to nothing under cloud-init's trim_blocks setting.
func jinjaBodyStart(content []byte) (line int, text string) {
	lines := strings.Split(string(content), "\n")
	for i := 1; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		statement := strings.HasPrefix(l, "{%") && strings.HasSuffix(l, "%}")
		comment := strings.HasPrefix(l, "{#") && strings.HasSuffix(l, "#}")
		if l == "" || statement || comment {
			continue
		}
		return i + 1, l
	}
	return 0, ""
}

func firstLine(content []byte) string {
	return nthLine(content, 1)
}

// nthLine returns the 1-based line n of content without its line end,
// shortened to 60 bytes for messages.
func nthLine(content []byte, n int) string {
	lines := bytes.SplitN(content, []byte("\n"), n+1)
	if len(lines) < n {
		return ""
	}
	line := []rune(strings.TrimSuffix(string(lines[n-1]), "\r"))
	if len(line) > 60 {
		return string(line[:60]) + "..."
	}
	return string(line)
}
