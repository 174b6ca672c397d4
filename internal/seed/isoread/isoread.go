// Package isoread lists the files of an ISO 9660 image, such as a NoCloud
// seed, with their Rock Ridge names (or Joliet names when the image has no
// Rock Ridge entries).
//
// We wrote our own reader because package iso9660 only writes images and
// the Go ISO readers we know of do not read Rock Ridge names, which are
// the names a Linux guest, and so cloud-init, reads. It reads what "vmgenie seed inspect" needs:
// the volume ID, the directory trees and file extents. It follows ECMA-119
// for records, IEEE P1281 (SUSP) and P1282 (RRIP) for the NM and CE
// entries, and the Joliet specification for UCS-2 names. Images are
// untrusted input, so every offset is bounds-checked and the walk is
// limited in depth, entries and continuation areas.
package isoread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"unicode/utf16"
)

const (
	sectorSize = 2048
	// maxEntries, maxDepth and maxContinuations bound the walk of a
	// damaged or hostile image.
	maxEntries       = 100000
	maxDepth         = 64
	maxContinuations = 64
)

// Image is the volume ID and file list of an ISO 9660 image.
type Image struct {
	// VolumeID is the primary volume identifier, such as "cidata".
	VolumeID string
	// Names is the kind of names in Files: "rock-ridge", "joliet" or
	// "iso9660".
	Names string
	// Files lists the regular files, sorted by path.
	Files []File

	r io.ReaderAt
}

// File is one regular file on the image.
type File struct {
	// Path is slash-separated, without a leading slash.
	Path string `json:"path"`
	Size int64  `json:"size"`

	extent uint32
}

// ReadFile returns the content of the file at path.
func (img *Image) ReadFile(name string) ([]byte, error) {
	for _, f := range img.Files {
		if f.Path == name {
			data := make([]byte, f.Size)
			if _, err := img.r.ReadAt(data, int64(f.extent)*sectorSize); err != nil {
				return nil, fmt.Errorf("read %s at sector %d: %w", name, f.extent, err)
			}
			return data, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, errNotFound)
}

var errNotFound = errors.New("file not found on the image")

// ErrNotISO is returned for data without an ISO 9660 primary volume
// descriptor.
var ErrNotISO = errors.New("not an ISO 9660 image: no primary volume descriptor at sector 16")

// Read reads the volume descriptors and directory trees of an image of the
// given size in bytes.
func Read(r io.ReaderAt, size int64) (*Image, error) {
	rd := &reader{r: r, size: size}
	var primaryRoot, jolietRoot []byte
	var volumeID string
	for sector := int64(16); sector < 16+32; sector++ {
		vd, err := rd.sector(uint32(sector))
		if err != nil {
			if primaryRoot == nil {
				return nil, ErrNotISO
			}
			break
		}
		if string(vd[1:6]) != "CD001" {
			break
		}
		switch vd[0] {
		case 1:
			if primaryRoot == nil {
				primaryRoot = append([]byte(nil), vd[156:156+34]...)
				volumeID = strings.TrimRight(string(vd[40:72]), " \x00")
			}
		case 2:
			escape := string(vd[88:91])
			if escape == "%/@" || escape == "%/C" || escape == "%/E" {
				jolietRoot = append([]byte(nil), vd[156:156+34]...)
			}
		}
		if vd[0] == 255 {
			break
		}
	}
	if primaryRoot == nil {
		return nil, ErrNotISO
	}

	img := &Image{VolumeID: volumeID, r: r}
	files, rockRidge, err := rd.walk(primaryRoot, false)
	if err != nil {
		return nil, err
	}
	img.Names = "iso9660"
	if rockRidge {
		img.Names = "rock-ridge"
	} else if jolietRoot != nil {
		if joliet, _, err := rd.walk(jolietRoot, true); err == nil {
			files = joliet
			img.Names = "joliet"
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	img.Files = files
	return img, nil
}

type reader struct {
	r       io.ReaderAt
	size    int64
	entries int
}

func (rd *reader) sector(n uint32) ([]byte, error) {
	return rd.extent(n, sectorSize)
}

// extent reads length bytes starting at sector n.
func (rd *reader) extent(n uint32, length uint32) ([]byte, error) {
	start := int64(n) * sectorSize
	if start+int64(length) > rd.size || length > 64<<20 {
		return nil, fmt.Errorf("extent at sector %d with %d bytes lies outside the %d-byte image", n, length, rd.size)
	}
	buf := make([]byte, length)
	if _, err := rd.r.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("read sector %d: %w", n, err)
	}
	return buf, nil
}

// record is one parsed directory record.
type record struct {
	extent uint32
	length uint32
	dir    bool
	name   string // ISO 9660 or Joliet identifier
	rrName string // Rock Ridge NM name, "" when absent
	self   bool   // the "." or ".." entry
}

// walk lists the regular files below the directory whose record is root.
// It reports whether any record had a Rock Ridge name.
func (rd *reader) walk(root []byte, joliet bool) ([]File, bool, error) {
	rootRec, err := rd.parseRecord(root, joliet)
	if err != nil {
		return nil, false, fmt.Errorf("root directory record: %w", err)
	}
	var files []File
	rockRidge := false
	visited := map[uint32]bool{}
	var visit func(dir record, prefix string, depth int) error
	visit = func(dir record, prefix string, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("directories nest deeper than %d levels at %q", maxDepth, prefix)
		}
		if visited[dir.extent] {
			return fmt.Errorf("directory at sector %d is listed twice", dir.extent)
		}
		visited[dir.extent] = true
		data, err := rd.extent(dir.extent, dir.length)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); {
			length := int(data[off])
			if length == 0 {
				off = (off/sectorSize + 1) * sectorSize
				continue
			}
			if off+length > len(data) || length < 34 {
				return fmt.Errorf("directory record at sector %d offset %d has invalid length %d", dir.extent, off%sectorSize, length)
			}
			rec, err := rd.parseRecord(data[off:off+length], joliet)
			if err != nil {
				return fmt.Errorf("directory record at sector %d offset %d: %w", dir.extent, off%sectorSize, err)
			}
			off += length
			if rec.self {
				continue
			}
			rd.entries++
			if rd.entries > maxEntries {
				return fmt.Errorf("image has more than %d entries", maxEntries)
			}
			name := rec.name
			if rec.rrName != "" {
				name = rec.rrName
				rockRidge = true
			}
			if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
				return fmt.Errorf("invalid file name %q at sector %d", name, dir.extent)
			}
			full := path.Join(prefix, name)
			if rec.dir {
				if err := visit(rec, full, depth+1); err != nil {
					return err
				}
				continue
			}
			if int64(rec.extent)*sectorSize+int64(rec.length) > rd.size {
				return fmt.Errorf("file %q at sector %d with %d bytes lies outside the %d-byte image", full, rec.extent, rec.length, rd.size)
			}
			files = append(files, File{Path: full, Size: int64(rec.length), extent: rec.extent})
		}
		return nil
	}
	if err := visit(rootRec, "", 0); err != nil {
		return nil, false, err
	}
	return files, rockRidge, nil
}

func (rd *reader) parseRecord(rec []byte, joliet bool) (record, error) {
	if len(rec) < 34 {
		return record{}, fmt.Errorf("record of %d bytes is shorter than 34", len(rec))
	}
	nameLen := int(rec[32])
	if 33+nameLen > len(rec) {
		return record{}, fmt.Errorf("name of %d bytes runs past the record", nameLen)
	}
	r := record{
		extent: binary.LittleEndian.Uint32(rec[2:6]),
		length: binary.LittleEndian.Uint32(rec[10:14]),
		dir:    rec[25]&0x02 != 0,
	}

	id := rec[33 : 33+nameLen]
	if nameLen == 1 && (id[0] == 0 || id[0] == 1) {
		r.self = true
		return r, nil
	}
	if joliet {
		r.name = decodeUCS2(id)
	} else {
		r.name = string(id)
	}
	if i := strings.LastIndexByte(r.name, ';'); i >= 0 {
		r.name = r.name[:i]
	}
	if !r.dir {
		r.name = strings.TrimSuffix(r.name, ".")
	}

	// The system use area follows the name and a padding byte that keeps
	// it at an even offset.
	suStart := 33 + nameLen
	if nameLen%2 == 0 {
		suStart++
	}
	if !joliet && suStart < len(rec) {
		name, err := rd.rockRidgeName(rec[suStart:])
		if err != nil {
			return record{}, err
		}
		r.rrName = name
	}
	return r, nil
}

// rockRidgeName collects the NM entries of a system use area, following
// CE continuation areas.
func (rd *reader) rockRidgeName(area []byte) (string, error) {
	var name strings.Builder
	for hops := 0; ; hops++ {
		var next []byte
		for off := 0; off+4 <= len(area); {
			sig := string(area[off : off+2])
			length := int(area[off+2])
			if length < 4 || off+length > len(area) {
				break
			}
			entry := area[off : off+length]
			switch sig {
			case "NM":
				if length >= 5 && entry[4]&0x06 == 0 {
					name.Write(entry[5:])
				}
			case "CE":
				if length >= 28 {
					block := binary.LittleEndian.Uint32(entry[4:8])
					offset := binary.LittleEndian.Uint32(entry[12:16])
					size := binary.LittleEndian.Uint32(entry[20:24])
					if offset+size > sectorSize {
						return "", fmt.Errorf("continuation area at sector %d runs past its sector", block)
					}
					data, err := rd.sector(block)
					if err != nil {
						return "", err
					}
					next = data[offset : offset+size]
				}
			case "ST":
				off = len(area)
				continue
			}
			off += length
		}
		if next == nil {
			return name.String(), nil
		}
		if hops >= maxContinuations {
			return "", fmt.Errorf("more than %d continuation areas in one record", maxContinuations)
		}
		area = next
	}
}

func decodeUCS2(b []byte) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(units))
}
