package pshost

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// stderrTailLines is how many decoded stderr lines a process keeps for
// error messages.
const stderrTailLines = 20

// stderrLog reads a runner's stderr to the end. It logs every line, decodes
// CLIXML blocks into their messages and drops progress records, and keeps
// the last lines for error messages. Success and failure never depend on
// it: they come from the exit code and the JSON response.
type stderrLog struct {
	log  *slog.Logger
	done chan struct{}

	mu   sync.Mutex
	tail []string
}

func newStderrLog(r io.Reader, log *slog.Logger) *stderrLog {
	s := &stderrLog{log: log, done: make(chan struct{})}
	go s.read(r)
	return s
}

func (s *stderrLog) read(r io.Reader) {
	defer close(s.done)
	br := bufio.NewReader(r)
	var block []byte // a CLIXML block being collected
	inBlock := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			text := bytes.TrimRight(line, "\r\n")
			switch {
			case inBlock:
				block = append(block, text...)
				if bytes.Contains(text, []byte("</Objs>")) {
					s.block(block)
					block, inBlock = nil, false
				}
			case bytes.HasPrefix(text, []byte(CLIXMLMarker)):
				rest := bytes.TrimSpace(text[len(CLIXMLMarker):])
				block = append([]byte{}, rest...)
				inBlock = true
				if bytes.Contains(rest, []byte("</Objs>")) {
					s.block(block)
					block, inBlock = nil, false
				}
			default:
				if len(bytes.TrimSpace(text)) > 0 {
					s.record("stderr", string(text))
				}
			}
		}
		if err != nil {
			if inBlock && len(block) > 0 {
				s.block(block)
			}
			return
		}
	}
}

// block logs the messages of one CLIXML block.
func (s *stderrLog) block(data []byte) {
	records, err := DecodeCLIXML(data)
	for _, r := range records {
		s.record(r.Stream, r.Text)
	}
	if err != nil {
		s.log.Warn("PowerShell wrote a CLIXML block that could not be decoded; dropping the rest of it", "err", err, "bytes", len(data))
	}
}

func (s *stderrLog) record(stream, text string) {
	s.log.Warn("PowerShell wrote to stderr", "stream", stream, "text", text)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range strings.Split(text, "\n") {
		s.tail = append(s.tail, line)
	}
	if n := len(s.tail); n > stderrTailLines {
		s.tail = append([]string{}, s.tail[n-stderrTailLines:]...)
	}
}

// Tail returns the last stderr lines joined with " | ", or "" when there
// were none.
func (s *stderrLog) Tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, " | ")
}
