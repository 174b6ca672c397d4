package iso9660

// Rock Ridge (RRIP 1.09, whose ER identifier is RRIP_1991A) on top of the
// System Use Sharing Protocol (SUSP 1.09). Linux, libisofs and genisoimage
// read this version. Each SUSP entry starts with a two-letter signature, a
// length byte and a version byte.

// POSIX file modes reported in PX entries. The medium is read-only, so the
// write bits are clear.
const (
	modeDir  = 0o040555
	modeFile = 0o100444
)

// Lengths of the fixed-size SUSP entries.
const (
	spLen = 7
	pxLen = 36 // RRIP_1991A form, without the file serial number of RRIP 1.12
	tfLen = 5 + 3*7
	ceLen = 28
	// nmHeaderLen is the length of an NM entry without the name.
	nmHeaderLen = 5
	// maxNMChunk is the longest name part that one NM entry holds, because
	// the entry length is one byte.
	maxNMChunk = 255 - nmHeaderLen
)

// Extension reference (ER) texts from the RRIP_1991A specification. Readers
// such as libisofs compare the identifier.
const (
	erID         = "RRIP_1991A"
	erDescriptor = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	erSource     = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
	erLen        = 8 + len(erID) + len(erDescriptor) + len(erSource)
)

// TF flags (RRIP 4.1.6): modify, access and attribute change times, each
// in the 7-byte directory record format.
const tfFlags = 0x02 | 0x04 | 0x08

// maxRecordLen is the longest even directory record. ECMA-119 stores the
// length in one byte, and records keep an even length.
const maxRecordLen = 254

// suspArea is the System Use data of one directory record. Entries that do
// not fit in the record go to a continuation area, which a CE entry at the
// end of the record points to.
type suspArea struct {
	inline []byte // entries stored in the record, without the CE entry
	cont   []byte // entries stored in the continuation area, nil when none

	// Location of cont, set by placeContinuationAreas.
	ceSector uint32
	ceOffset uint32
}

// recordBytes returns the System Use length inside the directory record.
func (a *suspArea) recordBytes() int {
	if len(a.cont) == 0 {
		return len(a.inline)
	}
	return len(a.inline) + ceLen
}

// suspBuilder collects the entries of one record and splits them between the
// record and a continuation area.
type suspBuilder struct {
	buf  []byte
	ends []int // end offset of each entry in buf
}

func (b *suspBuilder) reset() {
	b.buf = nil // the previous area keeps its slices of the old buffer
	b.ends = b.ends[:0]
}

func (b *suspBuilder) add(entry ...byte) {
	b.buf = append(b.buf, entry...)
	b.ends = append(b.ends, len(b.buf))
}

// split returns the area for a record whose identifier is idLen bytes long.
// When the entries do not all fit, the record keeps the leading entries that
// fit next to a CE entry and the rest go to the continuation area, in order.
// SUSP requires SP to be the first entry of the root's "." record, and it
// always fits.
func (b *suspBuilder) split(idLen int) suspArea {
	avail := maxRecordLen - recordLen(idLen, 0)
	if len(b.buf) <= avail {
		return suspArea{inline: b.buf}
	}

	room := avail - ceLen
	cut := 0
	for _, end := range b.ends {
		if end > room {
			break
		}
		cut = end
	}
	return suspArea{inline: b.buf[:cut], cont: b.buf[cut:]}
}

// buildRockRidge computes the System Use entries of every directory record
// in the ISO 9660 tree and lists the continuation areas in a fixed order.
func (img *image) buildRockRidge() {
	tf := appendTF(nil, recordTime(img.modTime))
	filePX := appendPX(nil, modeFile, 1)

	var b suspBuilder
	for _, dir := range img.isoDirs {
		parent := dir.parent
		if parent == nil {
			parent = dir
		}

		b.reset()
		if dir == img.root {
			// SP marks the use of SUSP and must come first. ER names
			// the extension and makes Linux prefer Rock Ridge over
			// Joliet.
			b.add('S', 'P', spLen, 1, 0xbe, 0xef, 0)
		}
		b.add(appendPX(nil, modeDir, 2+dir.subdirectories)...)
		b.add(tf...)
		if dir == img.root {
			b.add(appendER(nil)...)
		}
		dir.dotSUSP = b.split(1)
		img.addContinuationArea(&dir.dotSUSP)

		b.reset()
		b.add(appendPX(nil, modeDir, 2+parent.subdirectories)...)
		b.add(tf...)
		dir.dotdotSUSP = b.split(1)
		img.addContinuationArea(&dir.dotdotSUSP)

		for _, child := range dir.isoChildren {
			b.reset()
			if child.isDir {
				b.add(appendPX(nil, modeDir, 2+child.subdirectories)...)
			} else {
				b.add(filePX...)
			}
			b.add(tf...)
			addNM(&b, child.name)
			child.susp = b.split(len(child.isoID))
			img.addContinuationArea(&child.susp)
		}
	}
}

func (img *image) addContinuationArea(area *suspArea) {
	if len(area.cont) > 0 {
		img.ceAreas = append(img.ceAreas, area)
	}
}

// addNM adds NM entries holding name. A name longer than one entry holds is
// split, and every entry but the last sets the CONTINUE flag.
func addNM(b *suspBuilder, name string) {
	for {
		chunk, flags := name, byte(0)
		if len(chunk) > maxNMChunk {
			chunk, flags = chunk[:maxNMChunk], 0x01
		}
		entry := append(make([]byte, 0, nmHeaderLen+len(chunk)), 'N', 'M', byte(nmHeaderLen+len(chunk)), 1, flags)
		b.add(append(entry, chunk...)...)

		name = name[len(chunk):]
		if name == "" {
			return
		}
	}
}

// appendPX appends a PX entry: mode, link count, user and group ID 0.
func appendPX(dst []byte, mode, links uint32) []byte {
	dst = append(dst, 'P', 'X', pxLen, 1)
	dst = appendBoth32(dst, mode)
	dst = appendBoth32(dst, links)
	dst = appendBoth32(dst, 0)
	return appendBoth32(dst, 0)
}

// appendTF appends a TF entry with the same time as modify, access and
// attribute change time.
func appendTF(dst []byte, t [7]byte) []byte {
	dst = append(dst, 'T', 'F', tfLen, 1, tfFlags)
	for range 3 {
		dst = append(dst, t[:]...)
	}
	return dst
}

func appendER(dst []byte) []byte {
	dst = append(dst, 'E', 'R', byte(erLen), 1, byte(len(erID)), byte(len(erDescriptor)), byte(len(erSource)), 1)
	dst = append(dst, erID...)
	dst = append(dst, erDescriptor...)
	return append(dst, erSource...)
}

// appendCE appends a CE entry pointing at a continuation area.
func appendCE(dst []byte, sector, offset, length uint32) []byte {
	dst = append(dst, 'C', 'E', ceLen, 1)
	dst = appendBoth32(dst, sector)
	dst = appendBoth32(dst, offset)
	return appendBoth32(dst, length)
}
