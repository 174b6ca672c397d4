package iso9660

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
)

// This file is a minimal ISO 9660 reader for tests, written from ECMA-119,
// SUSP and RRIP without the writer's helpers. While it reads, it checks the
// structural rules that the writer must keep. Both-byte-order fields agree,
// records never cross a sector boundary, continuation areas stay in one
// sector, identifiers are sorted, and the path tables match the trees.

// readImage is what parseImage found in an image.
type readImage struct {
	volumeID       string // primary volume descriptor
	jolietVolumeID string
	sectors        uint32
	modTime        string // 17-byte modification date of the primary descriptor, without the offset

	rrFiles     map[string][]byte // by Rock Ridge path
	rrDirs      map[string]bool
	rrModes     map[string]uint32
	jolietFiles map[string][]byte // by Joliet path
	jolietDirs  map[string]bool
	isoIDs      map[string]string // Rock Ridge path to level-1 identifier
	ceCount     int               // CE entries followed
}

// dirRecord is one parsed directory record.
type dirRecord struct {
	offset    int // in the image
	length    int
	sector    uint32
	size      uint32
	flags     byte
	id        []byte
	systemUse []byte
}

func (r dirRecord) isDir() bool { return r.flags&0x02 != 0 }

func both32(b []byte, field string) (uint32, error) {
	le := binary.LittleEndian.Uint32(b[0:4])
	be := binary.BigEndian.Uint32(b[4:8])
	if le != be {
		return 0, fmt.Errorf("%s: little endian %d and big endian %d differ", field, le, be)
	}
	return le, nil
}

func both16(b []byte, field string) (uint16, error) {
	le := binary.LittleEndian.Uint16(b[0:2])
	be := binary.BigEndian.Uint16(b[2:4])
	if le != be {
		return 0, fmt.Errorf("%s: little endian %d and big endian %d differ", field, le, be)
	}
	return le, nil
}

// parseImage reads img and checks its structure.
func parseImage(img []byte) (*readImage, error) {
	const ss = 2048
	if len(img)%ss != 0 || len(img) < 19*ss {
		return nil, fmt.Errorf("image length %d is not a multiple of %d of at least 19 sectors", len(img), ss)
	}
	for i, b := range img[:16*ss] {
		if b != 0 {
			return nil, fmt.Errorf("system area byte %d is %#x, want 0", i, b)
		}
	}

	out := &readImage{
		rrFiles: map[string][]byte{}, rrDirs: map[string]bool{}, rrModes: map[string]uint32{},
		jolietFiles: map[string][]byte{}, jolietDirs: map[string]bool{}, isoIDs: map[string]string{},
	}

	var pvd, svd []byte
	for sector := 16; ; sector++ {
		if (sector+1)*ss > len(img) {
			return nil, fmt.Errorf("no volume descriptor set terminator")
		}
		vd := img[sector*ss : (sector+1)*ss]
		if string(vd[1:6]) != "CD001" || vd[6] != 1 {
			return nil, fmt.Errorf("sector %d: bad volume descriptor header % x", sector, vd[:7])
		}
		switch vd[0] {
		case 1:
			pvd = vd
		case 2:
			if !bytes.Equal(vd[88:91], []byte("%/E")) {
				return nil, fmt.Errorf("sector %d: supplementary descriptor escape % x, want %%/E", sector, vd[88:91])
			}
			svd = vd
		case 255:
			if !bytes.Equal(vd[7:], make([]byte, ss-7)) {
				return nil, fmt.Errorf("sector %d: terminator has non-zero bytes", sector)
			}
		default:
			return nil, fmt.Errorf("sector %d: unexpected volume descriptor type %d", sector, vd[0])
		}
		if vd[0] == 255 {
			break
		}
	}
	if pvd == nil || svd == nil {
		return nil, fmt.Errorf("missing primary (%v) or Joliet (%v) volume descriptor", pvd != nil, svd != nil)
	}

	var err error
	out.volumeID = strings.TrimRight(string(pvd[40:72]), " ")
	out.jolietVolumeID = strings.TrimRight(decodeUCS2(svd[40:72]), " ")
	out.modTime = string(pvd[830:846])

	var trees [2]pathTable
	for i, vd := range [][]byte{pvd, svd} {
		sectors, err := both32(vd[80:88], "volume space size")
		if err != nil {
			return nil, err
		}
		if int(sectors)*ss != len(img) {
			return nil, fmt.Errorf("volume space size %d sectors, image has %d", sectors, len(img)/ss)
		}
		out.sectors = sectors
		for _, f := range []struct {
			off  int
			name string
			want uint16
		}{{120, "volume set size", 1}, {124, "volume sequence number", 1}, {128, "logical block size", ss}} {
			v, err := both16(vd[f.off:f.off+4], f.name)
			if err != nil {
				return nil, err
			}
			if v != f.want {
				return nil, fmt.Errorf("%s is %d, want %d", f.name, v, f.want)
			}
		}
		if vd[881] != 1 {
			return nil, fmt.Errorf("file structure version %d, want 1", vd[881])
		}
		trees[i], err = readPathTables(img, vd)
		if err != nil {
			return nil, err
		}
	}

	r := &reader{img: img, out: out}
	pvdRoot, err := r.parseRecord(16*ss+156, 34)
	if err != nil {
		return nil, fmt.Errorf("primary root record: %w", err)
	}
	svdRoot, err := r.parseRecord(17*ss+156, 34)
	if err != nil {
		return nil, fmt.Errorf("Joliet root record: %w", err)
	}

	isoOrder, err := r.walk(pvdRoot, false)
	if err != nil {
		return nil, fmt.Errorf("ISO 9660 tree: %w", err)
	}
	jolietOrder, err := r.walk(svdRoot, true)
	if err != nil {
		return nil, fmt.Errorf("Joliet tree: %w", err)
	}
	if err := trees[0].matches(isoOrder); err != nil {
		return nil, fmt.Errorf("ISO 9660 path table: %w", err)
	}
	if err := trees[1].matches(jolietOrder); err != nil {
		return nil, fmt.Errorf("Joliet path table: %w", err)
	}
	if err := r.checkExtents(); err != nil {
		return nil, err
	}
	return out, nil
}

type pathTableRecord struct {
	id     string
	sector uint32
	parent uint16
}

type pathTable []pathTableRecord

// readPathTables reads the type L and type M tables of vd and checks that
// they hold the same records.
func readPathTables(img, vd []byte) (pathTable, error) {
	size, err := both32(vd[132:140], "path table size")
	if err != nil {
		return nil, err
	}
	lSector := binary.LittleEndian.Uint32(vd[140:144])
	mSector := binary.BigEndian.Uint32(vd[148:152])
	read := func(sector uint32, order binary.ByteOrder) (pathTable, error) {
		start := int(sector) * 2048
		if start+int(size) > len(img) {
			return nil, fmt.Errorf("path table at sector %d runs past the image", sector)
		}
		b := img[start : start+int(size)]
		var pt pathTable
		for off := 0; off < len(b); {
			n := int(b[off])
			if n == 0 || off+8+n > len(b) {
				return nil, fmt.Errorf("path table record at %d has identifier length %d", off, n)
			}
			pt = append(pt, pathTableRecord{
				id:     string(b[off+8 : off+8+n]),
				sector: order.Uint32(b[off+2:]),
				parent: order.Uint16(b[off+6:]),
			})
			off += 8 + n + n%2
		}
		return pt, nil
	}
	l, err := read(lSector, binary.LittleEndian)
	if err != nil {
		return nil, err
	}
	m, err := read(mSector, binary.BigEndian)
	if err != nil {
		return nil, err
	}
	if fmt.Sprint(l) != fmt.Sprint(m) {
		return nil, fmt.Errorf("type L path table %v differs from type M %v", l, m)
	}
	return l, nil
}

// matches checks the path table against the directories in breadth-first
// order, as walk returns them.
func (pt pathTable) matches(dirs []walkedDir) error {
	if len(pt) != len(dirs) {
		return fmt.Errorf("%d records for %d directories", len(pt), len(dirs))
	}
	number := map[uint32]uint16{}
	for i, d := range dirs {
		number[d.sector] = uint16(i + 1)
	}
	for i, d := range dirs {
		want := pathTableRecord{id: string(d.id), sector: d.sector, parent: number[d.parentSector]}
		if pt[i] != want {
			return fmt.Errorf("record %d is %+v, want %+v", i+1, pt[i], want)
		}
	}
	return nil
}

type reader struct {
	img     []byte
	out     *readImage
	extents []fileExtent
}

type fileExtent struct {
	path          string
	sector, count uint32
}

type walkedDir struct {
	id           []byte
	sector       uint32
	parentSector uint32
}

func (r *reader) parseRecord(offset, maxLen int) (dirRecord, error) {
	b := r.img[offset:]
	n := int(b[0])
	if n < 34 || n > maxLen || n%2 != 0 {
		return dirRecord{}, fmt.Errorf("record at %d has length %d", offset, n)
	}
	if b[1] != 0 {
		return dirRecord{}, fmt.Errorf("record at %d has extended attribute length %d", offset, b[1])
	}

	rec := dirRecord{offset: offset, length: n, flags: b[25]}
	var err error
	if rec.sector, err = both32(b[2:10], "extent location"); err != nil {
		return rec, err
	}
	if rec.size, err = both32(b[10:18], "data length"); err != nil {
		return rec, err
	}
	if seq, err := both16(b[28:32], "volume sequence number"); err != nil || seq != 1 {
		return rec, fmt.Errorf("record at %d: volume sequence number %d, %v", offset, seq, err)
	}

	idLen := int(b[32])
	suStart := 33 + idLen + (1 - idLen%2)
	if idLen == 0 || suStart > n {
		return rec, fmt.Errorf("record at %d: identifier length %d does not fit record length %d", offset, idLen, n)
	}
	rec.id = b[33 : 33+idLen]
	rec.systemUse = b[suStart:n]

	if uint64(rec.sector)*2048+uint64(rec.size) > uint64(len(r.img)) {
		return rec, fmt.Errorf("record %q: extent %d+%d bytes runs past the image", rec.id, rec.sector, rec.size)
	}
	return rec, nil
}

// readDir returns the records of the directory extent of dir.
func (r *reader) readDir(dir dirRecord) ([]dirRecord, error) {
	if dir.size == 0 || dir.size%2048 != 0 {
		return nil, fmt.Errorf("directory %q has size %d, want a non-zero multiple of 2048", dir.id, dir.size)
	}
	var recs []dirRecord
	start := int(dir.sector) * 2048
	for s := 0; s < int(dir.size)/2048; s++ {
		sector := start + s*2048
		for off := 0; off < 2048; {
			n := int(r.img[sector+off])
			if n == 0 {
				if !bytes.Equal(r.img[sector+off:sector+2048], make([]byte, 2048-off)) {
					return nil, fmt.Errorf("directory %q sector %d: non-zero bytes after the last record at %d", dir.id, s, off)
				}
				break
			}
			if off+n > 2048 {
				return nil, fmt.Errorf("directory %q sector %d: record at %d with length %d crosses the sector boundary", dir.id, s, off, n)
			}
			rec, err := r.parseRecord(sector+off, 255)
			if err != nil {
				return nil, fmt.Errorf("directory %q: %w", dir.id, err)
			}
			recs = append(recs, rec)
			off += n
		}
	}
	if len(recs) < 2 || !bytes.Equal(recs[0].id, []byte{0}) || !bytes.Equal(recs[1].id, []byte{1}) {
		return nil, fmt.Errorf("directory %q does not start with \".\" and \"..\"", dir.id)
	}
	if recs[0].sector != dir.sector || recs[0].size != dir.size {
		return nil, fmt.Errorf("directory %q: \".\" points to %d/%d, want %d/%d", dir.id, recs[0].sector, recs[0].size, dir.sector, dir.size)
	}
	return recs, nil
}

var (
	level1File = regexp.MustCompile(`^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$`)
	level1Dir  = regexp.MustCompile(`^[A-Z0-9_]{1,8}$`)
)

// walk reads the tree from root breadth-first, as the path table orders
// it, and returns the directories in that order.
func (r *reader) walk(root dirRecord, joliet bool) ([]walkedDir, error) {
	type queued struct {
		rec    dirRecord
		path   string
		parent dirRecord
		depth  int
	}
	queue := []queued{{rec: root, parent: root, depth: 1}}
	var order []walkedDir
	for len(queue) > 0 {
		q := queue[0]
		queue = queue[1:]
		order = append(order, walkedDir{id: q.rec.id, sector: q.rec.sector, parentSector: q.parent.sector})
		if q.depth > 8 {
			return nil, fmt.Errorf("directory %q is at level %d, ISO 9660 allows 8", q.path, q.depth)
		}

		recs, err := r.readDir(q.rec)
		if err != nil {
			return nil, err
		}
		if recs[1].sector != q.parent.sector {
			return nil, fmt.Errorf("directory %q: \"..\" points to sector %d, want %d", q.path, recs[1].sector, q.parent.sector)
		}

		if !joliet {
			dot, err := r.parseSUSP(recs[0], q.depth == 1)
			if err != nil {
				return nil, fmt.Errorf("directory %q \".\": %w", q.path, err)
			}
			if dot.mode&0o170000 != 0o040000 {
				return nil, fmt.Errorf("directory %q \".\": PX mode %o is not a directory", q.path, dot.mode)
			}
			if _, err := r.parseSUSP(recs[1], false); err != nil {
				return nil, fmt.Errorf("directory %q \"..\": %w", q.path, err)
			}
		}

		seen := map[string]bool{}
		for i, rec := range recs[2:] {
			if i > 0 && compareIDs(recs[i+1].id, rec.id, joliet) >= 0 {
				return nil, fmt.Errorf("directory %q: records %q and %q are not sorted", q.path, recs[i+1].id, rec.id)
			}
			if seen[string(rec.id)] {
				return nil, fmt.Errorf("directory %q: identifier %q repeats", q.path, rec.id)
			}
			seen[string(rec.id)] = true

			var name string
			var mode uint32
			if joliet {
				if len(rec.id)%2 != 0 || len(rec.id) > 128 {
					return nil, fmt.Errorf("directory %q: Joliet identifier of %d bytes", q.path, len(rec.id))
				}
				name = decodeUCS2(rec.id)
			} else {
				if rec.isDir() && !level1Dir.Match(rec.id) || !rec.isDir() && !level1File.Match(rec.id) {
					return nil, fmt.Errorf("directory %q: %q is not a level-1 identifier", q.path, rec.id)
				}
				rr, err := r.parseSUSP(rec, false)
				if err != nil {
					return nil, fmt.Errorf("directory %q record %q: %w", q.path, rec.id, err)
				}
				if rr.name == "" {
					return nil, fmt.Errorf("directory %q record %q has no NM entry", q.path, rec.id)
				}
				if (rr.mode&0o170000 == 0o040000) != rec.isDir() {
					return nil, fmt.Errorf("directory %q record %q: PX mode %o does not match flags %#x", q.path, rec.id, rr.mode, rec.flags)
				}
				name = rr.name
				mode = rr.mode
			}

			path := name
			if q.path != "" {
				path = q.path + "/" + name
			}
			if !joliet {
				r.out.isoIDs[path] = string(rec.id)
				r.out.rrModes[path] = mode
			}
			if rec.isDir() {
				if joliet {
					r.out.jolietDirs[path] = true
				} else {
					r.out.rrDirs[path] = true
				}
				queue = append(queue, queued{rec: rec, path: path, parent: q.rec, depth: q.depth + 1})
				continue
			}

			data := r.img[int(rec.sector)*2048:][:rec.size]
			if joliet {
				r.out.jolietFiles[path] = data
			} else {
				r.out.rrFiles[path] = data
				if rec.size > 0 {
					r.extents = append(r.extents, fileExtent{path: path, sector: rec.sector, count: (rec.size + 2047) / 2048})
				}
			}
		}
	}
	return order, nil
}

// compareIDs orders level-1 identifiers by name, then extension, and Joliet
// identifiers by UCS-2 code units.
func compareIDs(a, b []byte, joliet bool) int {
	if joliet {
		return bytes.Compare(a, b)
	}
	split := func(id []byte) (string, string) {
		s := strings.TrimSuffix(string(id), ";1")
		name, ext, _ := strings.Cut(s, ".")
		return name, ext
	}
	an, ae := split(a)
	bn, be := split(b)
	if c := strings.Compare(an, bn); c != 0 {
		return c
	}
	return strings.Compare(ae, be)
}

// checkExtents checks that no two files share a sector and that file data
// starts after the directories.
func (r *reader) checkExtents() error {
	owner := map[uint32]string{}
	for _, e := range r.extents {
		if e.sector < 19 {
			return fmt.Errorf("file %q starts in reserved sector %d", e.path, e.sector)
		}
		for s := e.sector; s < e.sector+e.count; s++ {
			if other, ok := owner[s]; ok {
				return fmt.Errorf("files %q and %q share sector %d", other, e.path, s)
			}
			owner[s] = e.path
		}
	}
	return nil
}

type rockRidge struct {
	name string
	mode uint32
}

// parseSUSP reads the System Use entries of rec, following CE entries.
// isRootDot requires the SP and ER entries of the root's "." record.
func (r *reader) parseSUSP(rec dirRecord, isRootDot bool) (rockRidge, error) {
	var rr rockRidge
	var sawSP, sawER, sawPX, sawTF, nameOpen bool
	area := rec.systemUse
	first := true
	for hops := 0; ; hops++ {
		if hops > 8 {
			return rr, fmt.Errorf("more than 8 continuation areas")
		}
		var next []byte
		for len(area) >= 4 {
			sig, n := string(area[:2]), int(area[2])
			if n < 4 || n > len(area) {
				return rr, fmt.Errorf("entry %q has length %d with %d bytes left", sig, n, len(area))
			}
			if area[3] != 1 {
				return rr, fmt.Errorf("entry %q has version %d", sig, area[3])
			}
			e := area[:n]
			switch sig {
			case "SP":
				if !isRootDot || !first || n != 7 || e[4] != 0xbe || e[5] != 0xef || e[6] != 0 {
					return rr, fmt.Errorf("unexpected SP entry % x", e)
				}
				sawSP = true
			case "ER":
				idLen, desLen, srcLen := int(e[4]), int(e[5]), int(e[6])
				if 8+idLen+desLen+srcLen != n || string(e[8:8+idLen]) != "RRIP_1991A" {
					return rr, fmt.Errorf("bad ER entry %q", e)
				}
				sawER = true
			case "CE":
				if n != 28 || next != nil {
					return rr, fmt.Errorf("bad or repeated CE entry % x", e)
				}
				sector, err := both32(e[4:12], "CE block")
				if err != nil {
					return rr, err
				}
				off, err := both32(e[12:20], "CE offset")
				if err != nil {
					return rr, err
				}
				length, err := both32(e[20:28], "CE length")
				if err != nil {
					return rr, err
				}
				if off+length > 2048 || length < 4 {
					return rr, fmt.Errorf("continuation area at %d+%d crosses the sector boundary or is empty", off, length)
				}
				start := int(sector)*2048 + int(off)
				if int(sector) < 19 || start+int(length) > len(r.img) {
					return rr, fmt.Errorf("continuation area in sector %d is outside the image", sector)
				}
				next = r.img[start : start+int(length)]
				r.out.ceCount++
			case "PX":
				if n != 36 && n != 44 {
					return rr, fmt.Errorf("PX entry has length %d", n)
				}
				mode, err := both32(e[4:12], "PX mode")
				if err != nil {
					return rr, err
				}
				links, err := both32(e[12:20], "PX links")
				if err != nil || links == 0 {
					return rr, fmt.Errorf("PX links %d: %v", links, err)
				}
				rr.mode = mode
				sawPX = true
			case "TF":
				if n != 5+7*bitsSet(e[4]&0x7f) || e[4]&0x80 != 0 {
					return rr, fmt.Errorf("TF entry with flags %#x has length %d", e[4], n)
				}
				sawTF = true
			case "NM":
				if e[4]&^0x01 != 0 {
					return rr, fmt.Errorf("NM entry with flags %#x", e[4])
				}
				if rr.name != "" && !nameOpen {
					return rr, fmt.Errorf("second NM entry after a complete name %q", rr.name)
				}
				rr.name += string(e[5:])
				nameOpen = e[4]&0x01 != 0
			default:
				return rr, fmt.Errorf("unexpected entry %q", sig)
			}
			first = false
			area = area[n:]
		}
		for _, b := range area {
			if b != 0 {
				return rr, fmt.Errorf("trailing bytes % x after the last entry", area)
			}
		}
		if next == nil {
			break
		}
		area = next
	}
	if nameOpen {
		return rr, fmt.Errorf("NM name %q ends with the CONTINUE flag set", rr.name)
	}
	if isRootDot && (!sawSP || !sawER) {
		return rr, fmt.Errorf("root \".\" lacks SP (%v) or ER (%v)", sawSP, sawER)
	}
	if !sawPX || !sawTF {
		return rr, fmt.Errorf("record lacks PX (%v) or TF (%v)", sawPX, sawTF)
	}
	return rr, nil
}

func bitsSet(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

func decodeUCS2(b []byte) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(units))
}
