//go:build !windows

package hyperv

import (
	"context"
	"io"
)

// defaultSerialDial reports that named pipes need Windows.
func defaultSerialDial(context.Context, string) (io.ReadCloser, error) {
	return nil, ErrSerialUnsupported
}
