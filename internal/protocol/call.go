package protocol

import "github.com/vmgenie/vmgenie/internal/transport"

// Call is one validated request, as passed to a handler.
type Call struct {
	ID      string
	Command string
	// Params holds the validated parameters with defaults filled in.
	Params Values
	// Stream is true when the client asked for progress lines.
	Stream bool
	// Peer identifies the client process.
	Peer transport.Peer

	// sendProgress writes one progress line; nil when Stream is false.
	sendProgress func(Progress) error
}

// NewCall returns a Call whose Progress method passes lines to send. The
// service creates calls; tests may too. A nil send makes Progress a no-op.
func NewCall(req Request, params Values, peer transport.Peer, send func(Progress) error) *Call {
	return &Call{
		ID:           req.ID,
		Command:      req.Command,
		Params:       params,
		Stream:       req.Stream,
		Peer:         peer,
		sendProgress: send,
	}
}

// Progress sends a progress line when the client asked for a stream, and
// does nothing otherwise. It returns the write error, typically because the
// client has disconnected; a handler may ignore it and finish its work.
func (c *Call) Progress(p Progress) error {
	if c.sendProgress == nil || !c.Stream {
		return nil
	}
	return c.sendProgress(p)
}
