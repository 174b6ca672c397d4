// Package iso9660 writes ISO 9660 images for NoCloud seed data.
package iso9660

import (
	"errors"
	"io"
	"time"
)

// File is one regular file to put on the image.
type File struct {
	// Path is slash-separated and relative to the root, such as "user-data"
	// or "scripts/setup.sh". Directories are created as needed.
	Path string
	Data []byte
}

// Options sets the volume-wide fields.
type Options struct {
	// VolumeID is the volume identifier; empty means "cidata".
	VolumeID string
	// ModTime stamps every directory record and volume descriptor. Zero
	// means DefaultModTime().
	ModTime time.Time
}

// Write writes an image holding files to w.
func Write(w io.Writer, files []File, opts Options) error {
	return errors.New("iso9660: not implemented yet")
}

// DefaultModTime returns the time from SOURCE_DATE_EPOCH when it is set and
// valid, and the current time otherwise.
func DefaultModTime() (time.Time, error) {
	return time.Now().UTC(), nil
}
