//go:build windows

package hyperv

import (
	"context"
	"io"

	"github.com/Microsoft/go-winio"
)

// defaultSerialDial opens the COM1 pipe with go-winio, which waits for a
// busy pipe instance until ctx ends.
func defaultSerialDial(ctx context.Context, pipe string) (io.ReadCloser, error) {
	return winio.DialPipeContext(ctx, pipe)
}
