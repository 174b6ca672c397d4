// Package iso9660 writes ISO 9660 images for NoCloud seed data.
//
// An image carries three views of the same files. The primary volume
// descriptor holds ISO 9660 level-1 names (8.3, uppercase, ";1"), which every
// reader understands. Rock Ridge (RRIP_1991A over SUSP) entries in that tree
// carry the exact POSIX names, so Linux guests see "user-data" and
// "network-config". A Joliet supplementary volume descriptor holds a second
// tree with UCS-2 names, so Windows guests (cloudbase-init) see the same exact
// names.
//
// We write our own because no Go library we checked (December 2026) had a
// track record with both extensions. kdomanski/iso9660 writes neither Rock
// Ridge nor Joliet. go-diskfs, which Lima uses, wrote corrupt Rock Ridge data
// once a directory's entries passed one 2048-byte sector until a fix in May
// 2025, and merged Joliet writing only in April 2026. The tests here read
// the images back with xorriso, isoinfo and blkid, including directories
// and continuation areas that span several sectors.
//
// Output is deterministic: the same files and ModTime give the same bytes in
// any input order. The layout is computed before anything is written, then
// the image is written in one pass.
package iso9660

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
	// VolumeID is the volume identifier. Empty means DefaultVolumeID
	// ("cidata").
	VolumeID string
	// ModTime stamps every directory record and volume descriptor. Zero
	// means DefaultModTime().
	ModTime time.Time
}

// DefaultVolumeID is the volume identifier that cloud-init's NoCloud data
// source looks for. It is lowercase, as cloud-localds (genisoimage -volid
// cidata) writes it.
const DefaultVolumeID = "cidata"

// Limits enforced by Write.
const (
	// MaxJolietNameLen is the maximum length of one path component in UCS-2
	// characters, the Joliet limit that Windows reads.
	MaxJolietNameLen = 64
	// MaxNameBytes is the maximum length of one path component in bytes,
	// NAME_MAX on Linux. MaxJolietNameLen keeps valid names at 192 bytes or
	// less anyway (64 three-byte UTF-8 characters).
	MaxNameBytes = 255
	// MaxVolumeIDLen is the maximum volume identifier length. The Joliet
	// volume descriptor stores 16 UCS-2 characters.
	MaxVolumeIDLen = 16
	// MaxDepth is the maximum number of path components. ISO 9660 allows
	// eight directory levels including the root, so seven directories and
	// a file name.
	MaxDepth = 8
)

var (
	// ErrInvalidPath is wrapped by every error about a File.Path.
	ErrInvalidPath = errors.New("iso9660: invalid path")
	// ErrInvalidVolumeID is wrapped by every error about Options.VolumeID.
	ErrInvalidVolumeID = errors.New("iso9660: invalid volume ID")
)

// Write writes an image containing files to w. It validates every path and the
// options before writing anything, so an error from validation leaves w
// untouched.
func Write(w io.Writer, files []File, opts Options) error {
	img, err := newImage(files, opts)
	if err != nil {
		return err
	}
	return img.writeTo(w)
}

// sourceDateEpoch is the environment variable defined by
// https://reproducible-builds.org/specs/source-date-epoch/.
const sourceDateEpoch = "SOURCE_DATE_EPOCH"

// DefaultModTime returns the time from SOURCE_DATE_EPOCH when it is set and
// not empty, and the current time in UTC otherwise. A value that is not a
// non-negative decimal count of seconds, or that ISO 9660 directory records
// cannot store (after 2155), is an error.
func DefaultModTime() (time.Time, error) {
	value, ok := os.LookupEnv(sourceDateEpoch)
	if !ok || value == "" {
		return time.Now().UTC(), nil
	}

	seconds, err := strconv.ParseInt(value, 10, 64)
	if err != nil || seconds < 0 {
		return time.Time{}, fmt.Errorf("iso9660: invalid %s value %q: set it to a non-negative decimal count of seconds since 1970-01-01 UTC, or unset it", sourceDateEpoch, value)
	}

	t := time.Unix(seconds, 0).UTC()
	if t.Year() > maxYear {
		return time.Time{}, fmt.Errorf("iso9660: invalid %s value %q: %s is after %d, the last year ISO 9660 directory records can store", sourceDateEpoch, value, t.Format(time.RFC3339), maxYear)
	}
	return t, nil
}
