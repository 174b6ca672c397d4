package pshost

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// CLIXMLMarker starts a block of serialized PowerShell stream records on
// stderr. powershell.exe writes such blocks instead of plain text when it
// believes its caller is another PowerShell, and for progress records.
const CLIXMLMarker = "#< CLIXML"

// StreamRecord is one message decoded from a CLIXML block.
type StreamRecord struct {
	// Stream is the PowerShell stream: Error, warning, verbose, debug,
	// information, or "output" for untagged strings.
	Stream string
	Text   string
}

// DecodeCLIXML returns the messages of a CLIXML document (the text after
// CLIXMLMarker): each <S S="stream"> string and the <ToString> text of each
// serialized record object. Progress records are dropped. Adjacent strings
// of one stream are joined, since PowerShell writes an error line by line.
//
// We decode the few elements that carry text ourselves: no Go library reads
// PowerShell's serialization format, and only the message text matters here.
func DecodeCLIXML(data []byte) ([]StreamRecord, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var records []StreamRecord
	add := func(stream, text string) {
		text = decodeCLIXMLEscapes(text)
		n := len(records)
		if n > 0 && records[n-1].Stream == stream {
			records[n-1].Text += text
			return
		}
		records = append(records, StreamRecord{Stream: stream, Text: text})
	}
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tidyRecords(records), fmt.Errorf("decode CLIXML: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !sawRoot {
			if start.Name.Local != "Objs" {
				return nil, fmt.Errorf("decode CLIXML: root element is <%s>, want <Objs>", start.Name.Local)
			}
			sawRoot = true
			continue
		}
		stream := attr(start, "S")
		switch start.Name.Local {
		case "S":
			text, err := elementText(dec)
			if err != nil {
				return tidyRecords(records), fmt.Errorf("decode CLIXML string: %w", err)
			}
			if stream == "" {
				stream = "output"
			}
			add(stream, text)
		case "Obj":
			if strings.EqualFold(stream, "progress") || stream == "" {
				if err := dec.Skip(); err != nil {
					return tidyRecords(records), fmt.Errorf("decode CLIXML object: %w", err)
				}
				continue
			}
			text, err := objectToString(dec)
			if err != nil {
				return tidyRecords(records), fmt.Errorf("decode CLIXML object: %w", err)
			}
			if text != "" {
				add(stream, text)
			}
		}
	}
	if !sawRoot {
		return nil, errors.New("decode CLIXML: no <Objs> element")
	}
	return tidyRecords(records), nil
}

func attr(start xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// elementText reads the character data up to the end of the current
// element, skipping nested elements.
func elementText(dec *xml.Decoder) (string, error) {
	var b strings.Builder
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return b.String(), err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth == 0 {
				b.Write(t)
			}
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return b.String(), nil
			}
			depth--
		}
	}
}

// objectToString returns the text of the first <ToString> element directly
// inside the current <Obj>, and consumes the rest of the object.
func objectToString(dec *xml.Decoder) (string, error) {
	text := ""
	found := false
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return text, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name.Local == "ToString" && !found {
				s, err := elementText(dec)
				if err != nil {
					return s, err
				}
				text, found = s, true
				continue
			}
			depth++
		case xml.EndElement:
			if depth == 0 {
				return text, nil
			}
			depth--
		}
	}
}

// decodeCLIXMLEscapes replaces PowerShell's _xHHHH_ escapes, which encode
// control characters (such as _x000D__x000A_ for CRLF), the underscore
// itself (_x005F_) and surrogate halves.
func decodeCLIXMLEscapes(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var b strings.Builder
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				units = append(units, uint16(v))
				i += 7
				continue
			}
		}
		flush()
		b.WriteByte(s[i])
		i++
	}
	flush()
	return b.String()
}

// tidyRecords turns CRLF into LF and trims the trailing newlines of each
// record, dropping records left empty.
func tidyRecords(records []StreamRecord) []StreamRecord {
	out := records[:0]
	for _, r := range records {
		r.Text = strings.TrimRight(strings.ReplaceAll(r.Text, "\r\n", "\n"), "\r\n ")
		if r.Text != "" {
			out = append(out, r)
		}
	}
	return out
}
