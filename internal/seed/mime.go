package seed

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// gzipContentTypes are the part types that cloud-init gunzips before it
// looks at the content (DECOMP_TYPES in cloudinit/user_data.py).
var gzipContentTypes = map[string]bool{
	"application/gzip":              true,
	"application/gzip-compressed":   true,
	"application/gzipped":           true,
	"application/x-compress":        true,
	"application/x-compressed":      true,
	"application/x-gunzip":          true,
	"application/x-gzip":            true,
	"application/x-gzip-compressed": true,
}

// droppedHeaders are the part headers not copied from the user's parts:
// the writer sets them again for the content it writes.
var droppedHeaders = map[string]bool{
	"Content-Type":              true,
	"Content-Transfer-Encoding": true,
	"Mime-Version":              true,
}

// parseMIME reads a user's MIME message into its leaf parts, in order, with
// nested multiparts flattened in place, as cloud-init walks them.
func (b *builder) parseMIME(source string, data []byte) (parts []part, changed bool, err error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, false, &InputError{Source: source, Problem: "contains \"MIME-Version:\" but its headers cannot be read: " + err.Error(),
			Hint: "fix the MIME headers, or remove the MIME-Version line if the file is not MIME", Err: err}
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return nil, false, fmt.Errorf("read MIME body of %s: %w", source, err)
	}
	header := textproto.MIMEHeader(msg.Header)
	walker := &mimeWalker{builder: b, source: source}
	if err := walker.entity(header, body); err != nil {
		return nil, false, err
	}
	if len(walker.parts) == 0 {
		b.warn(source, 0, "is a MIME message without parts, so cloud-init does nothing with it")
	}
	return walker.parts, walker.changed, nil
}

type mimeWalker struct {
	builder *builder
	source  string
	parts   []part
	changed bool
}

// entity adds the leaf parts of one MIME entity with the given header and
// (still encoded) body.
func (w *mimeWalker) entity(header textproto.MIMEHeader, body []byte) error {
	origin := w.source
	if len(w.parts) > 0 || header.Get("Content-Type") != "" {
		origin = fmt.Sprintf("%s part %d", w.source, len(w.parts)+1)
	}
	mediaType := "text/plain"
	var params map[string]string
	if ct := header.Get("Content-Type"); ct != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return &InputError{Source: origin, Problem: fmt.Sprintf("invalid Content-Type %q: %v", ct, err),
				Hint: "write it as type/subtype, such as text/cloud-config", Err: err}
		}
	}

	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return &InputError{Source: origin, Problem: "multipart Content-Type has no boundary parameter",
				Hint: "add boundary=\"...\" to the Content-Type"}
		}
		reader := multipart.NewReader(bytes.NewReader(body), boundary)
		for {
			p, err := reader.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return &InputError{Source: origin, Problem: "invalid MIME multipart: " + err.Error(),
					Hint: "check that every part starts with \"--" + boundary + "\" and that the message ends with \"--" + boundary + "--\"", Err: err}
			}
			partBody, err := io.ReadAll(p)
			if err != nil {
				return &InputError{Source: origin, Problem: "invalid MIME multipart: " + err.Error(),
					Hint: "check the part boundaries", Err: err}
			}
			if err := w.entity(p.Header, partBody); err != nil {
				return err
			}
		}
	}

	content, err := decodeTransfer(origin, header.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	declared := mediaType
	if gzipContentTypes[mediaType] {
		if content, err = gunzip(origin, content); err != nil {
			return err
		}
		declared = "text/plain"
	}
	keptHeader := textproto.MIMEHeader{}
	for key, values := range header {
		if !droppedHeaders[textproto.CanonicalMIMEHeaderKey(key)] {
			keptHeader[key] = values
		}
	}
	p, changed, err := w.builder.checkPart(part{origin: origin, header: keptHeader, content: content}, declared)
	if err != nil {
		return err
	}
	w.changed = w.changed || changed
	w.parts = append(w.parts, p)
	return nil
}

// decodeTransfer undoes a Content-Transfer-Encoding.
func decodeTransfer(origin, encoding string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			return nil, &InputError{Source: origin, Problem: "invalid base64 content: " + err.Error(),
				Hint: "encode the part again with base64", Err: err}
		}
		return out[:n], nil
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, &InputError{Source: origin, Problem: "invalid quoted-printable content: " + err.Error(),
				Hint: "encode the part again", Err: err}
		}
		return out, nil
	}
	return nil, &InputError{Source: origin, Problem: fmt.Sprintf("unsupported Content-Transfer-Encoding %q", encoding),
		Hint: "use base64, quoted-printable, 7bit or 8bit"}
}

// writeMultipart writes parts as one MIME multipart/mixed message. A part
// whose content is printable ASCII with short lines is written as 7bit, so
// it stays readable on the image. Any other part is written as base64,
// because Python's email package, which cloud-init uses, decodes non-ASCII
// 8bit text in a message parsed from a string as escapes, not as UTF-8.
func writeMultipart(parts []part) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		header := textproto.MIMEHeader{}
		for key, values := range p.header {
			header[key] = append([]string(nil), values...)
		}
		sevenBit := isSevenBitText(p.content) && !bytes.Contains(p.content, []byte(mw.Boundary()))
		switch {
		case sevenBit && strings.HasPrefix(p.contentType, "text/"):
			header.Set("Content-Type", p.contentType+`; charset="us-ascii"`)
		case strings.HasPrefix(p.contentType, "text/"):
			header.Set("Content-Type", p.contentType+`; charset="utf-8"`)
		default:
			header.Set("Content-Type", p.contentType)
		}
		if sevenBit {
			header.Set("Content-Transfer-Encoding", "7bit")
		} else {
			header.Set("Content-Transfer-Encoding", "base64")
		}
		w, err := mw.CreatePart(header)
		if err != nil {
			return nil, fmt.Errorf("write MIME part: %w", err)
		}
		if sevenBit {
			_, err = w.Write(p.content)
		} else {
			_, err = w.Write(wrapBase64(p.content))
		}
		if err != nil {
			return nil, fmt.Errorf("write MIME part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("write MIME multipart: %w", err)
	}

	var out bytes.Buffer
	fmt.Fprintf(&out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\nMIME-Version: 1.0\r\n\r\n", mw.Boundary())
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

// isSevenBitText reports whether content can be sent as 7bit: printable
// ASCII, tabs and LF line ends, lines of at most 998 bytes (RFC 5322).
func isSevenBitText(content []byte) bool {
	lineLen := 0
	for _, c := range content {
		switch {
		case c == '\n':
			lineLen = 0
			continue
		case c == '\t' || c >= 0x20 && c < 0x7F:
		default:
			return false
		}
		lineLen++
		if lineLen > 998 {
			return false
		}
	}
	return true
}

// wrapBase64 encodes data as base64 in lines of 76 characters.
func wrapBase64(data []byte) []byte {
	encoded := base64.StdEncoding.EncodeToString(data)
	var out bytes.Buffer
	for len(encoded) > 76 {
		out.WriteString(encoded[:76])
		out.WriteString("\r\n")
		encoded = encoded[76:]
	}
	out.WriteString(encoded)
	return out.Bytes()
}
