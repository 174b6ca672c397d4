package iso9660

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Years that the 7-byte directory record date (ECMA-119 9.1.5) can store:
// the first byte counts years since 1900.
const (
	minYear = 1900
	maxYear = 1900 + 255
)

// maxBufferedImage is the image size up to which writeTo builds the whole
// image in one buffer and writes it with a single call. Larger images
// stream the file data after the metadata.
const maxBufferedImage = 4 << 20

// Directory record flags (ECMA-119 9.1.6).
const flagDirectory = 0x02

// Volume descriptor types (ECMA-119 8.1.1).
const (
	vdPrimary       = 1
	vdSupplementary = 2
	vdTerminator    = 255
)

// jolietEscape is the escape sequence of Joliet UCS-2 level 3, the level
// that allows every UCS-2 character.
var jolietEscape = []byte{'%', '/', 'E'}

var zeroSector [sectorSize]byte

// writeTo writes the image to w.
func (img *image) writeTo(w io.Writer) error {
	metaBytes := int(img.metaSectors) * sectorSize
	total := int64(img.totalSectors) * sectorSize

	if total <= maxBufferedImage {
		buf := make([]byte, total)
		img.encodeMetadata(buf[:metaBytes])
		for _, f := range img.files {
			copy(buf[int(f.dataSector)*sectorSize:], f.data)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("iso9660: write image: %w", err)
		}
		return nil
	}

	meta := make([]byte, metaBytes)
	img.encodeMetadata(meta)
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write(meta); err != nil {
		return fmt.Errorf("iso9660: write image metadata: %w", err)
	}
	for _, f := range img.files {
		if _, err := bw.Write(f.data); err != nil {
			return fmt.Errorf("iso9660: write data of %q: %w", img.pathOf(f), err)
		}
		if pad := (sectorSize - len(f.data)%sectorSize) % sectorSize; pad > 0 {
			if _, err := bw.Write(zeroSector[:pad]); err != nil {
				return fmt.Errorf("iso9660: write data of %q: %w", img.pathOf(f), err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("iso9660: write image: %w", err)
	}
	return nil
}

// pathOf returns the slash path of n, for error messages.
func (img *image) pathOf(n *node) string {
	if n.parent == nil {
		return ""
	}
	if n.parent.parent == nil {
		return n.name
	}
	return img.pathOf(n.parent) + "/" + n.name
}

// encodeMetadata fills buf, which is zeroed and img.metaSectors long, with
// the volume descriptors, path tables, directories and continuation areas.
func (img *image) encodeMetadata(buf []byte) {
	recTime := recordTime(img.modTime)
	vdTime := volumeTime(img.modTime)

	img.encodeVolumeDescriptor(sectorAt(buf, pvdSector), false, vdTime)
	img.encodeVolumeDescriptor(sectorAt(buf, jolietSector), true, vdTime)
	term := sectorAt(buf, terminatorSector)
	term[0] = vdTerminator
	copy(term[1:], "CD001")
	term[6] = 1

	encodePathTables(buf, img.isoPathTable, img.isoDirs, func(n *node) ([]byte, extent, uint16) {
		return n.isoID, n.isoExtent, parentOf(n).isoNumber
	})
	encodePathTables(buf, img.jolietPathTable, img.jolietDirs, func(n *node) ([]byte, extent, uint16) {
		return n.jolietID, n.jolietExtent, parentOf(n).jolietNumber
	})

	for _, dir := range img.isoDirs {
		img.encodeISODir(buf, dir, recTime)
	}
	for _, dir := range img.jolietDirs {
		encodeJolietDir(buf, dir, recTime)
	}

	for _, area := range img.ceAreas {
		copy(buf[int(area.ceSector)*sectorSize+int(area.ceOffset):], area.cont)
	}
}

func sectorAt(buf []byte, sector uint32) []byte {
	start := int(sector) * sectorSize
	return buf[start : start+sectorSize]
}

func parentOf(n *node) *node {
	if n.parent == nil {
		return n
	}
	return n.parent
}

// encodeVolumeDescriptor fills the primary (ECMA-119 8.4) or the Joliet
// supplementary (8.5) volume descriptor. Both share the layout. Joliet
// stores its text fields in UCS-2 big endian.
func (img *image) encodeVolumeDescriptor(vd []byte, joliet bool, vdTime [17]byte) {
	textField := func(field []byte, value string) {
		if joliet {
			fillUCS2(field, value)
		} else {
			fillSpaces(field, value)
		}
	}

	root := img.root.isoExtent
	pt := img.isoPathTable
	vd[0] = vdPrimary
	if joliet {
		root = img.root.jolietExtent
		pt = img.jolietPathTable
		vd[0] = vdSupplementary
	}
	copy(vd[1:6], "CD001")
	vd[6] = 1

	textField(vd[8:40], "")            // system identifier
	textField(vd[40:72], img.volumeID) // volume identifier
	putBoth32(vd[80:88], img.totalSectors)
	if joliet {
		copy(vd[88:120], jolietEscape)
	}
	putBoth16(vd[120:124], 1) // volume set size
	putBoth16(vd[124:128], 1) // volume sequence number
	putBoth16(vd[128:132], sectorSize)
	putBoth32(vd[132:140], pt.size)
	binary.LittleEndian.PutUint32(vd[140:144], pt.lSector)
	binary.BigEndian.PutUint32(vd[148:152], pt.mSector)
	putRecord(vd[156:190], root, flagDirectory, []byte{0}, recordTime(img.modTime), nil)

	textField(vd[190:318], "")           // volume set identifier
	textField(vd[318:446], "")           // publisher identifier
	textField(vd[446:574], "")           // data preparer identifier
	textField(vd[574:702], "")           // application identifier
	textField(vd[702:739], "")           // copyright file identifier
	textField(vd[739:776], "")           // abstract file identifier
	textField(vd[776:813], "")           // bibliographic file identifier
	copy(vd[813:830], vdTime[:])         // creation
	copy(vd[830:847], vdTime[:])         // modification
	copy(vd[847:864], unspecifiedTime()) // expiration
	copy(vd[864:881], vdTime[:])         // effective
	vd[881] = 1                          // file structure version
}

// encodePathTables writes the type L and type M path tables (ECMA-119 9.4)
// of one tree.
func encodePathTables(buf []byte, layout pathTableLayout, dirs []*node, fields func(*node) ([]byte, extent, uint16)) {
	l := buf[int(layout.lSector)*sectorSize:]
	m := buf[int(layout.mSector)*sectorSize:]
	offset := 0
	for _, dir := range dirs {
		id, ext, parent := fields(dir)
		l[offset], m[offset] = byte(len(id)), byte(len(id))
		binary.LittleEndian.PutUint32(l[offset+2:], ext.sector)
		binary.BigEndian.PutUint32(m[offset+2:], ext.sector)
		binary.LittleEndian.PutUint16(l[offset+6:], parent)
		binary.BigEndian.PutUint16(m[offset+6:], parent)
		copy(l[offset+8:], id)
		copy(m[offset+8:], id)
		offset += pathTableRecordLen(len(id))
	}
}

// encodeISODir writes the directory extent of dir in the ISO 9660 tree with
// its Rock Ridge entries.
func (img *image) encodeISODir(buf []byte, dir *node, t [7]byte) {
	ext := buf[int(dir.isoExtent.sector)*sectorSize:][:dir.isoExtent.size]
	parent := parentOf(dir)
	var p recordPacker

	put := func(target extent, flags byte, id []byte, area *suspArea) {
		susp := area.inline
		if len(area.cont) > 0 {
			susp = appendCE(susp[:len(susp):len(susp)], area.ceSector, area.ceOffset, uint32(len(area.cont)))
		}
		at := p.place(recordLen(len(id), len(susp)))
		putRecord(ext[at:], target, flags, id, t, susp)
	}

	put(dir.isoExtent, flagDirectory, []byte{0}, &dir.dotSUSP)
	put(parent.isoExtent, flagDirectory, []byte{1}, &dir.dotdotSUSP)
	for _, child := range dir.isoChildren {
		target, flags := child.fileExtent(), byte(0)
		if child.isDir {
			target, flags = child.isoExtent, flagDirectory
		}
		put(target, flags, child.isoID, &child.susp)
	}
}

// encodeJolietDir writes the directory extent of dir in the Joliet tree.
func encodeJolietDir(buf []byte, dir *node, t [7]byte) {
	ext := buf[int(dir.jolietExtent.sector)*sectorSize:][:dir.jolietExtent.size]
	parent := parentOf(dir)
	var p recordPacker

	put := func(target extent, flags byte, id []byte) {
		at := p.place(recordLen(len(id), 0))
		putRecord(ext[at:], target, flags, id, t, nil)
	}

	put(dir.jolietExtent, flagDirectory, []byte{0})
	put(parent.jolietExtent, flagDirectory, []byte{1})
	for _, child := range dir.jolietChildren {
		target, flags := child.fileExtent(), byte(0)
		if child.isDir {
			target, flags = child.jolietExtent, flagDirectory
		}
		put(target, flags, child.jolietID)
	}
}

func (n *node) fileExtent() extent {
	return extent{sector: n.dataSector, size: uint32(len(n.data))}
}

// putRecord writes one directory record (ECMA-119 9.1) at the start of dst.
func putRecord(dst []byte, target extent, flags byte, id []byte, t [7]byte, susp []byte) {
	n := recordLen(len(id), len(susp))
	dst[0] = byte(n)
	putBoth32(dst[2:10], target.sector)
	putBoth32(dst[10:18], target.size)
	copy(dst[18:25], t[:])
	dst[25] = flags
	putBoth16(dst[28:32], 1) // volume sequence number
	dst[32] = byte(len(id))
	copy(dst[33:], id)
	copy(dst[recordLen(len(id), 0):], susp)
}

// recordTime encodes t in the 7-byte directory record format (ECMA-119
// 9.1.5) with a UTC offset of 0. t must be UTC and within minYear..maxYear.
func recordTime(t time.Time) [7]byte {
	return [7]byte{
		byte(t.Year() - minYear), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0,
	}
}

// volumeTime encodes t in the 17-byte volume descriptor format (ECMA-119
// 8.4.26.1): 16 decimal digits down to hundredths of a second, then the UTC
// offset.
func volumeTime(t time.Time) [17]byte {
	var out [17]byte
	digits := fmt.Appendf(nil, "%04d%02d%02d%02d%02d%02d00", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second())
	copy(out[:], digits)
	return out
}

// unspecifiedTime returns the 17-byte form of "not specified": sixteen
// zero digits and a zero offset.
func unspecifiedTime() []byte {
	return []byte("0000000000000000\x00")
}

func fillSpaces(field []byte, value string) {
	n := copy(field, value)
	for i := n; i < len(field); i++ {
		field[i] = ' '
	}
}

// fillUCS2 writes value as UCS-2 big endian and pads with UCS-2 spaces. The
// last byte of an odd-length field stays zero, as genisoimage leaves it.
func fillUCS2(field []byte, value string) {
	encoded := appendUCS2(nil, value)
	n := copy(field, encoded)
	for i := n; i+1 < len(field); i += 2 {
		field[i], field[i+1] = 0, ' '
	}
}

// putBoth32 writes v in the both-byte orders form (ECMA-119 7.3.3): little
// endian, then big endian.
func putBoth32(dst []byte, v uint32) {
	binary.LittleEndian.PutUint32(dst[0:4], v)
	binary.BigEndian.PutUint32(dst[4:8], v)
}

// putBoth16 writes v in the both-byte orders form (ECMA-119 7.2.3).
func putBoth16(dst []byte, v uint16) {
	binary.LittleEndian.PutUint16(dst[0:2], v)
	binary.BigEndian.PutUint16(dst[2:4], v)
}

func appendBoth32(dst []byte, v uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, v)
	return binary.BigEndian.AppendUint32(dst, v)
}
