package seed

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

func gzipBytes(t *testing.T, data string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		content string
		want    string
	}{
		{"#cloud-config\na: 1\n", "text/cloud-config"},
		{"#cloud-config-archive\n- a\n", "text/cloud-config-archive"},
		{"#cloud-config-jsonp\n[]\n", "text/cloud-config-jsonp"},
		{"## template: jinja\n#cloud-config\n", "text/jinja2"},
		{"#cloud-boothook\n#!/bin/sh\n", "text/cloud-boothook"},
		{"#include\nhttp://x\n", "text/x-include-url"},
		{"#include-once\nhttp://x\n", "text/x-include-once-url"},
		{"#part-handler\ndef list_types(): pass\n", "text/part-handler"},
		{"#!/bin/bash\necho\n", "text/x-shellscript"},
		{"#Cloud-Config\n", "text/cloud-config"},
		{"  \n#cloud-config\n", "text/cloud-config"},
		{"## TEMPLATE: JINJA\n", "text/jinja2"},
	}
	for _, tc := range tests {
		f, ok := detectFormat([]byte(tc.content))
		if !ok {
			t.Errorf("detectFormat(%q) found no format, want %s", tc.content, tc.want)
			continue
		}
		if f.contentType != tc.want {
			t.Errorf("detectFormat(%q) = %s, want %s", tc.content, f.contentType, tc.want)
		}
	}
	for _, content := range []string{"", "a: 1\n", "# cloud-config\n", "#cloudconfig\n", "##template: jinja\n", "{\"a\": 1}"} {
		if f, ok := detectFormat([]byte(content)); ok {
			t.Errorf("detectFormat(%q) = %s, want no format", content, f.contentType)
		}
	}
}

// parseOne runs one user-data document through Build without a template and
// returns the user-data written and the warnings.
func parseOne(t *testing.T, data []byte) ([]byte, string, []Warning, error) {
	t.Helper()
	seed, err := Build(Spec{UserData: []Source{{Name: "ud", Data: data}}, InstanceID: "iid-1", ModTime: fixedTime})
	if err != nil {
		return nil, "", nil, err
	}
	userData, _ := seed.File(UserDataName)
	return userData, seed.UserDataFormat, seed.Warnings, nil
}

func TestUserDataHygiene(t *testing.T) {
	tests := []struct {
		name       string
		in         []byte
		want       string
		wantFormat string
		warning    string
	}{
		{name: "cloud-config as given", in: []byte("#cloud-config\na: 1\n"), want: "#cloud-config\na: 1\n", wantFormat: "as-given"},
		{name: "BOM removed", in: []byte("\xEF\xBB\xBF#cloud-config\na: 1\n"), want: "#cloud-config\na: 1\n", wantFormat: "as-given", warning: "byte-order mark"},
		{name: "script CRLF", in: []byte("#!/bin/bash\r\necho hi\r\n"), want: "#!/bin/bash\necho hi\n", wantFormat: "as-given", warning: "converted 2 CRLF"},
		{name: "boothook CRLF", in: []byte("#cloud-boothook\r\n#!/bin/sh\r\necho\r\n"), want: "#cloud-boothook\n#!/bin/sh\necho\n", wantFormat: "as-given", warning: "converted 3 CRLF"},
		{name: "jinja CRLF", in: []byte("## template: jinja\r\n#!/bin/sh\r\necho {{ v1.instance_id }}\r\n"), want: "## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }}\n", wantFormat: "as-given", warning: "converted 3 CRLF"},
		{name: "cloud-config CRLF kept", in: []byte("#cloud-config\r\na: 1\r\n"), want: "#cloud-config\r\na: 1\r\n", wantFormat: "as-given"},
		{name: "BOM and CRLF", in: []byte("\xEF\xBB\xBF#!/bin/sh\r\necho\r\n"), want: "#!/bin/sh\necho\n", wantFormat: "as-given", warning: "byte-order mark"},
		{name: "gzip kept as given", in: gzipBytes(t, "#cloud-config\na: 1\n"), wantFormat: "as-given"},
		{name: "gzip script with CRLF", in: gzipBytes(t, "#!/bin/sh\r\necho\r\n"), want: "#!/bin/sh\necho\n", wantFormat: "as-given", warning: "ud (gunzipped): converted 2 CRLF"},
		{name: "gzip jinja", in: gzipBytes(t, "## template: jinja\n#cloud-config\na: {{ x }}\n"), wantFormat: "as-given"},
		{name: "include", in: []byte("#include\nhttps://example.org/a.yaml\n"), want: "#include\nhttps://example.org/a.yaml\n", wantFormat: "as-given"},
		{name: "empty cloud-config", in: []byte("#cloud-config\n"), want: "#cloud-config\n", wantFormat: "as-given", warning: "has no settings"},
		{name: "duplicate key", in: []byte("#cloud-config\na: 1\na: 2\n"), want: "#cloud-config\na: 1\na: 2\n", wantFormat: "as-given", warning: "ud:3: duplicate key \"a\""},
		{name: "jinja body unknown", in: []byte("## template: jinja\nhello\n"), want: "## template: jinja\nhello\n", wantFormat: "as-given", warning: "ud:2: the template body"},
		{name: "jinja statement first", in: []byte("## template: jinja\n{% set x = 1 %}\n#cloud-config\n"), want: "## template: jinja\n{% set x = 1 %}\n#cloud-config\n", wantFormat: "as-given"},
		{name: "boothook without interpreter", in: []byte("#cloud-boothook\necho\n"), want: "#cloud-boothook\necho\n", wantFormat: "as-given", warning: "ud:2: the line after #cloud-boothook"},
		{name: "empty file", in: []byte(""), want: string(emptyUserData), wantFormat: "empty", warning: "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, format, warnings, err := parseOne(t, tc.in)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			want := tc.want
			if want == "" {
				want = string(tc.in)
			}
			if string(got) != want {
				t.Errorf("user-data = %q, want %q", got, want)
			}
			if format != tc.wantFormat {
				t.Errorf("format = %q, want %q", format, tc.wantFormat)
			}
			text := warningsText(warnings)
			if tc.warning == "" && text != "" {
				t.Errorf("unexpected warnings: %s", text)
			}
			if tc.warning != "" && !strings.Contains(text, tc.warning) {
				t.Errorf("warnings %q do not contain %q", text, tc.warning)
			}
		})
	}
}

func warningsText(warnings []Warning) string {
	var lines []string
	for _, w := range warnings {
		lines = append(lines, w.String())
	}
	return strings.Join(lines, "\n")
}

func TestUserDataErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		source string
		line   int
		column int
		parts  []string // substrings of the message: the problem and the fix
	}{
		{name: "unknown header", in: []byte("hello: world\n"), source: "ud", line: 1, column: 1,
			parts: []string{`unrecognised first line "hello: world"`, "#cloud-config", "#!", "## template: jinja", "#cloud-boothook", "#include", "MIME multipart", "gzip"}},
		{name: "invalid UTF-8", in: []byte("#cloud-config\na: b\xffc\n"), source: "ud", line: 2, column: 5,
			parts: []string{"invalid UTF-8 byte 0xFF at byte offset 18", "save the file as UTF-8"}},
		{name: "invalid UTF-8 in gzip", in: gzipBytes(t, "#!/bin/sh\n\xc3\n"), source: "ud (gunzipped)", line: 2, column: 1,
			parts: []string{"invalid UTF-8 byte 0xC3 at byte offset 10"}},
		{name: "tab in cloud-config", in: []byte("#cloud-config\npackages:\n\t- curl\n"), source: "ud", line: 3, column: 1,
			parts: []string{"invalid YAML", "tab", "spaces"}},
		{name: "tab after colon", in: []byte("#cloud-config\nhostname:\tweb\n"), source: "ud", line: 2, column: 10,
			parts: []string{"invalid YAML: found a tab character", "replace the tab with spaces"}},
		{name: "bad indentation", in: []byte("#cloud-config\na: 1\n b: 2\n"), source: "ud", line: 3, column: 3,
			parts: []string{"invalid YAML: mapping values are not allowed", "fix the indentation"}},
		{name: "invalid date", in: []byte("#cloud-config\nexpire: 2024-02-30\n"), source: "ud", line: 2, column: 9,
			parts: []string{"day is out of range for month", "quote the value"}},
		{name: "list at top", in: []byte("#cloud-config\n- a\n"), source: "ud", line: 2, column: 1,
			parts: []string{"top level of a cloud-config must be a mapping", "key: value"}},
		{name: "space before shebang", in: []byte(" #!/bin/sh\necho\n"), source: "ud", line: 1, column: 1,
			parts: []string{"text before \"#!\"", "remove the blank lines or spaces"}},
		{name: "bad gzip", in: []byte{0x1f, 0x8b, 0x00}, source: "ud",
			parts: []string{"not valid gzip", "compress it again"}},
		{name: "bad json patch", in: []byte("#cloud-config-jsonp\n{\"op\": 1}\n"), source: "ud", line: 2, column: 1,
			parts: []string{"invalid JSON patch", "JSON array"}},
		{name: "archive not a list", in: []byte("#cloud-config-archive\na: 1\n"), source: "ud", line: 2, column: 1,
			parts: []string{"cloud-config-archive must be a list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := parseOne(t, tc.in)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Build error = %v, want *InputError", err)
			}
			if ie.Source != tc.source {
				t.Errorf("Source = %q, want %q", ie.Source, tc.source)
			}
			if ie.Line != tc.line {
				t.Errorf("Line = %d, want %d", ie.Line, tc.line)
			}
			if ie.Column != tc.column {
				t.Errorf("Column = %d, want %d", ie.Column, tc.column)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
		})
	}
}

func TestInputErrorFormat(t *testing.T) {
	err := &InputError{Source: "user-data.yaml", Line: 3, Column: 5, Problem: "invalid YAML: x", Hint: "do y"}
	if got, want := err.Error(), "user-data.yaml:3:5: invalid YAML: x: do y"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = &InputError{Source: "meta-data", Problem: "meta-data has no instance-id"}
	if got, want := err.Error(), "meta-data: meta-data has no instance-id"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// mimePart is one part of a MIME multipart message, decoded.
type mimePart struct {
	contentType string
	header      map[string][]string
	content     []byte
}

// readMultipart parses a MIME multipart message with Go's standard library.
func readMultipart(t *testing.T, data []byte) []mimePart {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read MIME message: %v", err)
	}
	if v := msg.Header.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q, want 1.0", v)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" {
		t.Fatalf("Content-Type = %q (%v), want multipart/mixed", msg.Header.Get("Content-Type"), err)
	}
	reader := multipart.NewReader(msg.Body, params["boundary"])
	var parts []mimePart
	for {
		p, err := reader.NextRawPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("next MIME part: %v", err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		content, err := decodeTransfer("test", p.Header.Get("Content-Transfer-Encoding"), body)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, mimePart{contentType: ct, header: p.Header, content: content})
	}
}

// TestMultipartRoundTrip combines a template with user documents of every
// format and checks each part of the result, byte for byte.
func TestMultipartRoundTrip(t *testing.T) {
	template := "#cloud-config\npackages: [curl]\n"
	userMIME := "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n" +
		"--XYZ\nContent-Type: text/cloud-config\nContent-Disposition: attachment; filename=\"a.yaml\"\nMerge-Type: list(append)+dict(recurse_array)\n\n#cloud-config\nruncmd: [ls]\n" +
		"--XYZ\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\nIyEvYmluL3NoCmVjaG8gw6kK\n" +
		"--XYZ\nContent-Type: multipart/alternative; boundary=\"IN\"\n\n--IN\nContent-Type: text/plain\n\n#cloud-boothook\n#!/bin/sh\n--IN--\n" +
		"--XYZ\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n#!/bin/sh\necho caf=C3=A9\n" +
		"--XYZ--\n"
	inputs := []Source{
		{Name: "cc.yaml", Data: []byte("#cloud-config\n# comment kept\nhostname: h\n")},
		{Name: "s.sh", Data: []byte("#!/bin/sh\r\necho \xc3\xa9\r\n")},
		{Name: "j", Data: []byte("## template: jinja\n#cloud-config\nfqdn: {{ ds.meta_data.local_hostname }}\n")},
		{Name: "b", Data: []byte("#cloud-boothook\n#!/bin/sh\necho boot\n")},
		{Name: "inc", Data: []byte("#include\nhttps://example.org/x\n")},
		{Name: "gz", Data: gzipBytes(t, "#!/bin/sh\necho gz\n")},
		{Name: "user.mime", Data: []byte(userMIME)},
	}
	seed, err := Build(Spec{
		Template:   &Source{Name: "template", Data: []byte(template)},
		UserData:   inputs,
		InstanceID: "iid-1",
		ModTime:    fixedTime,
	})
	if err != nil {
		t.Fatal(err)
	}
	if seed.UserDataFormat != "multipart" {
		t.Errorf("UserDataFormat = %q, want multipart", seed.UserDataFormat)
	}
	userData, _ := seed.File(UserDataName)
	parts := readMultipart(t, userData)

	want := []struct {
		contentType string
		content     string
		header      map[string]string
	}{
		{"text/cloud-config", "#cloud-config\n# comment kept\nhostname: h\n", nil},
		{"text/x-shellscript", "#!/bin/sh\necho \xc3\xa9\n", nil},
		{"text/jinja2", "## template: jinja\n#cloud-config\nfqdn: {{ ds.meta_data.local_hostname }}\n", nil},
		{"text/cloud-boothook", "#cloud-boothook\n#!/bin/sh\necho boot\n", nil},
		{"text/x-include-url", "#include\nhttps://example.org/x\n", nil},
		{"text/x-shellscript", "#!/bin/sh\necho gz\n", nil},
		{"text/cloud-config", "#cloud-config\nruncmd: [ls]", map[string]string{
			"Content-Disposition": `attachment; filename="a.yaml"`,
			"Merge-Type":          "list(append)+dict(recurse_array)",
		}},
		{"text/x-shellscript", "#!/bin/sh\necho \xc3\xa9\n", nil},
		{"text/cloud-boothook", "#cloud-boothook\n#!/bin/sh", nil},
		{"text/x-shellscript", "#!/bin/sh\necho caf\xc3\xa9", nil},
		{"text/cloud-config", template, map[string]string{"Merge-Type": TemplateMergeType}},
	}
	if len(parts) != len(want) {
		t.Fatalf("got %d parts, want %d", len(parts), len(want))
	}
	for i, w := range want {
		got := parts[i]
		if got.contentType != w.contentType {
			t.Errorf("part %d: Content-Type %q, want %q", i+1, got.contentType, w.contentType)
		}
		if string(got.content) != w.content {
			t.Errorf("part %d: content %q, want %q", i+1, got.content, w.content)
		}
		for key, value := range w.header {
			if v := mail.Header(got.header).Get(key); v != value {
				t.Errorf("part %d: %s = %q, want %q", i+1, key, v, value)
			}
		}
	}
	if got := parts[0].header["Content-Transfer-Encoding"]; len(got) != 1 || got[0] != "7bit" {
		t.Errorf("ASCII part Content-Transfer-Encoding = %v, want 7bit", got)
	}
	if got := parts[1].header["Content-Transfer-Encoding"]; len(got) != 1 || got[0] != "base64" {
		t.Errorf("non-ASCII part Content-Transfer-Encoding = %v, want base64", got)
	}
}

func TestTemplateOnlyIsPlain(t *testing.T) {
	template := "#cloud-config\npackages: [curl]\n"
	seed, err := Build(Spec{Template: &Source{Name: "template", Data: []byte(template)}, InstanceID: "iid-1", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	userData, _ := seed.File(UserDataName)
	if string(userData) != template {
		t.Errorf("user-data = %q, want the template as it is", userData)
	}
	if seed.UserDataFormat != "cloud-config" {
		t.Errorf("UserDataFormat = %q, want cloud-config", seed.UserDataFormat)
	}
}

func TestTemplateMustBeCloudConfig(t *testing.T) {
	_, err := Build(Spec{Template: &Source{Name: "tpl", Data: []byte("#!/bin/sh\n")}, InstanceID: "iid-1"})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error = %v, want *InputError", err)
	}
	if !strings.Contains(ie.Error(), "template user-data must be a #cloud-config document") {
		t.Errorf("error %q does not name the problem", ie)
	}
}

func TestMIMEInputErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"unknown text/plain part", "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhello\n--B--\n",
			"ud part 1:1:1: has Content-Type text/plain and an unrecognised first line"},
		{"shellscript without shebang", "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/x-shellscript\n\necho\n--B--\n",
			"declared text/x-shellscript but does not start with \"#!\""},
		{"bad yaml in part", "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/cloud-config\n\na:\tb\n--B--\n",
			"ud part 1:1:3: invalid YAML: found a tab character"},
		{"no boundary", "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\nx\n", "has no boundary parameter"},
		{"bad base64", "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n!!!\n--B--\n",
			"invalid base64 content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := parseOne(t, []byte(tc.in))
			if err == nil {
				t.Fatal("Build accepted the input")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestDuplicatePartFilenames(t *testing.T) {
	mimeDoc := "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n" +
		"--B\nContent-Type: text/x-shellscript\nContent-Disposition: attachment; filename=\"run.sh\"\n\n#!/bin/sh\necho 1\n" +
		"--B\nContent-Type: text/x-shellscript\nContent-Disposition: attachment; filename=\"run.sh\"\n\n#!/bin/sh\necho 2\n--B--\n"
	_, _, warnings, err := parseOne(t, []byte(mimeDoc))
	if err != nil {
		t.Fatal(err)
	}
	if text := warningsText(warnings); !strings.Contains(text, `same file name "run.sh"`) {
		t.Errorf("warnings %q do not name the duplicate file name", text)
	}
}
