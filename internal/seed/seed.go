// Package seed builds NoCloud seed images: the user-data, meta-data,
// network-config and vendor-data files that cloud-init reads from a volume
// labelled cidata, written as an ISO 9660 image.
//
// It does the work of cloud-localds, in process and with input checks that
// cloud-localds lacks. The template's user-data and the user's own user-data
// are combined as MIME multipart, so that nothing the user wrote is lost and
// cloud-init merges the cloud-config parts itself (see docs/seed.md for the
// merge rules chosen).
//
// Every input is checked before any VM exists. A byte-order mark is removed
// and CRLF line ends in scripts are converted, each with a warning. Invalid
// UTF-8 and unknown formats are rejected. YAML is checked by the rules of
// PyYAML, which cloud-init uses (package yamlcheck).
package seed

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
	"github.com/vmgenie/vmgenie/internal/iso9660"
)

// Names of the files on a NoCloud seed volume.
const (
	UserDataName      = "user-data"
	MetaDataName      = "meta-data"
	NetworkConfigName = "network-config"
	VendorDataName    = "vendor-data"
)

// Volume labels that cloud-init's NoCloud data source looks for.
const (
	VolumeIDLower = "cidata"
	VolumeIDUpper = "CIDATA"
)

// Source is one input document.
type Source struct {
	// Name identifies the document in messages, usually its file path.
	Name string
	Data []byte
}

// ExtraFile is a file copied onto the seed image as it is.
type ExtraFile struct {
	// Path is the slash-separated path on the image, such as "scripts/a.sh".
	Path string
	// Origin names the file in messages, usually its local path.
	Origin string
	Data   []byte
}

// Spec describes one seed image.
type Spec struct {
	// Template is the rendered template's user-data, a #cloud-config
	// document, or nil when there is no template.
	Template *Source
	// UserData lists the user's own user-data documents in any format that
	// cloud-init accepts. They are combined with Template.
	UserData []Source
	// MetaData is the meta-data document. When nil, Build writes one with
	// InstanceID and Hostname.
	MetaData *Source
	// Hostname is the local-hostname of the generated meta-data. Empty
	// means "vm-" and 8 hex digits of the instance ID. It must be empty
	// when MetaData is set, unless it equals the local-hostname in it.
	Hostname string
	// InstanceID is the instance-id of the generated meta-data. Empty means
	// a fresh one ("iid-" and 16 random hex digits).
	InstanceID string
	// NetworkConfig and VendorData are optional documents.
	NetworkConfig *Source
	VendorData    *Source
	// Files are extra files for the image.
	Files []ExtraFile
	// VolumeID is VolumeIDLower (the default when empty) or VolumeIDUpper.
	VolumeID string
	// ModTime stamps the image. Zero means iso9660.DefaultModTime().
	ModTime time.Time
}

// Seed is a checked set of seed files, ready to be written as an image.
type Seed struct {
	// Files are the files of the image: user-data, meta-data, then
	// network-config and vendor-data when present, then the extra files.
	Files []iso9660.File
	// InstanceID and Hostname are the values in meta-data. Hostname is
	// empty when a given meta-data has no local-hostname.
	InstanceID string
	Hostname   string
	// MetaDataGenerated is true when Build wrote the meta-data.
	MetaDataGenerated bool
	// UserDataFormat is how user-data was written: "cloud-config" for
	// the template alone, "as-given" for one user document copied as it
	// is, "multipart" for a MIME multipart combination, "empty" for none.
	UserDataFormat string
	// Warnings lists the fixes applied and the problems that do not stop
	// cloud-init, for the caller to show or log.
	Warnings []Warning

	volumeID string
	modTime  time.Time
}

// Build checks every input of spec and returns the seed files.
// Errors about an input are *InputError.
func Build(spec Spec) (*Seed, error) {
	b := &builder{spec: spec}
	return b.build()
}

// Write writes the seed as an ISO 9660 image to w.
func (s *Seed) Write(w io.Writer) error {
	opts := iso9660.Options{VolumeID: s.volumeID, ModTime: s.modTime}
	if err := iso9660.Write(w, s.Files, opts); err != nil {
		return fmt.Errorf("write seed image: %w", err)
	}
	return nil
}

// Image returns the seed as an ISO 9660 image.
func (s *Seed) Image() ([]byte, error) {
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile writes the image to path atomically: to a temporary file in
// the same directory, synced, then renamed over path. On error no file is
// left behind and an existing file at path is unchanged.
func (s *Seed) WriteFile(path string, perm os.FileMode) error {
	return atomicfile.Write(path, perm, s.Write)
}

// File returns the content of the seed file with the given image path.
func (s *Seed) File(path string) ([]byte, bool) {
	for _, f := range s.Files {
		if f.Path == path {
			return f.Data, true
		}
	}
	return nil, false
}
