package iso9660

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// sectorSize is the logical block size, 2048 bytes like a CD-ROM sector,
// which every ISO 9660 reader accepts.
const sectorSize = 2048

// Fixed sectors at the start of the image. Sectors 0 to 15 are the system
// area, which ECMA-119 reserves and we leave zero.
const (
	pvdSector        = 16
	jolietSector     = 17
	terminatorSector = 18
	firstFreeSector  = 19
)

// maxDirectories is the limit of the 16-bit parent directory number in path
// table records.
const maxDirectories = math.MaxUint16

// node is a file or directory of the image. Both trees (ISO 9660 with Rock
// Ridge, and Joliet) share the nodes and differ only in names and order.
type node struct {
	name   string // exact name, stored in Rock Ridge NM and in Joliet
	parent *node
	isDir  bool
	data   []byte

	// children is sorted by name. isoChildren and jolietChildren hold the
	// same nodes in the order each tree's directory records use.
	children       []*node
	isoChildren    []*node
	jolietChildren []*node

	isoBase, isoExt string // level-1 identifier parts, for sorting
	isoID           []byte // level-1 identifier, such as "USER_DAT.;1"
	jolietID        []byte // UCS-2 big endian name

	// susp holds the Rock Ridge entries of the record that names this node
	// in its parent. Directories also hold those of their "." and ".."
	// records.
	susp       suspArea
	dotSUSP    suspArea
	dotdotSUSP suspArea

	// Layout. A file has dataSector. A directory has one extent and one
	// path table number per tree.
	dataSector     uint32
	isoExtent      extent
	jolietExtent   extent
	isoNumber      uint16
	jolietNumber   uint16
	subdirectories uint32
}

type extent struct {
	sector uint32
	size   uint32 // bytes, a multiple of sectorSize
}

// image is the computed layout of one ISO image.
type image struct {
	volumeID string
	modTime  time.Time

	root       *node
	isoDirs    []*node // path table order
	jolietDirs []*node // path table order
	files      []*node // data order

	isoPathTable    pathTableLayout
	jolietPathTable pathTableLayout

	ceStart   uint32
	ceAreas   []*suspArea // continuation areas in the order they are placed
	ceSectors uint32

	metaSectors  uint32 // sectors before the first file data
	totalSectors uint32
}

type pathTableLayout struct {
	size    uint32 // bytes
	lSector uint32 // type L (little endian) table
	mSector uint32 // type M (big endian) table
}

// newImage validates files and opts and computes the whole layout.
func newImage(files []File, opts Options) (*image, error) {
	img := &image{volumeID: opts.VolumeID, modTime: opts.ModTime}
	if img.volumeID == "" {
		img.volumeID = DefaultVolumeID
	}
	if err := checkVolumeID(img.volumeID); err != nil {
		return nil, err
	}

	if img.modTime.IsZero() {
		t, err := DefaultModTime()
		if err != nil {
			return nil, err
		}
		img.modTime = t
	}
	img.modTime = img.modTime.UTC().Truncate(time.Second)
	if y := img.modTime.Year(); y < minYear || y > maxYear {
		return nil, fmt.Errorf("iso9660: invalid ModTime %s: ISO 9660 directory records store years %d to %d only", img.modTime.Format(time.RFC3339), minYear, maxYear)
	}

	root, err := buildTree(files)
	if err != nil {
		return nil, err
	}
	img.root = root

	img.orderTrees()
	if len(img.isoDirs) > maxDirectories {
		return nil, fmt.Errorf("iso9660: the image has %d directories, but ISO 9660 path tables number at most %d, so use fewer directories", len(img.isoDirs), maxDirectories)
	}
	img.buildRockRidge()
	if err := img.placeExtents(); err != nil {
		return nil, err
	}
	return img, nil
}

// buildTree validates the paths and creates the node tree from files.
func buildTree(files []File) (*node, error) {
	root := &node{isDir: true}
	dirs := map[string]*node{"": root}
	seen := make(map[string]struct{}, len(files))

	for i := range files {
		f := &files[i]
		parts, err := splitPath(f.Path)
		if err != nil {
			return nil, err
		}
		if int64(len(f.Data)) > math.MaxUint32 {
			return nil, fmt.Errorf("iso9660: file %q is %d bytes, but ISO 9660 files without multiple extents hold at most %d bytes, so split the file", f.Path, len(f.Data), uint32(math.MaxUint32))
		}
		if _, dup := seen[f.Path]; dup {
			return nil, fmt.Errorf("%w %q: the path is given twice, so keep one of the files", ErrInvalidPath, f.Path)
		}
		seen[f.Path] = struct{}{}
		if _, isDir := dirs[f.Path]; isDir {
			return nil, fmt.Errorf("%w %q: the path is both a file and a directory of other files, so rename one of them", ErrInvalidPath, f.Path)
		}

		parent := root
		for depth := 1; depth < len(parts); depth++ {
			dirPath := strings.Join(parts[:depth], "/")
			if _, isFile := seen[dirPath]; isFile {
				return nil, fmt.Errorf("%w %q: %q is both a file and a directory of other files, so rename one of them", ErrInvalidPath, f.Path, dirPath)
			}
			dir, ok := dirs[dirPath]
			if !ok {
				dir = &node{name: parts[depth-1], parent: parent, isDir: true}
				parent.children = append(parent.children, dir)
				parent.subdirectories++
				dirs[dirPath] = dir
			}
			parent = dir
		}
		parent.children = append(parent.children, &node{name: parts[len(parts)-1], parent: parent, data: f.Data})
	}
	return root, nil
}

// orderTrees assigns the names of both trees, sorts the directory records
// and lists the directories in path table order. ECMA-119 6.9.1 orders the
// path table by level, then by parent directory number, then by identifier,
// which is the breadth-first order of the sorted tree. Files are laid out
// in the same order as the ISO 9660 tree lists them.
func (img *image) orderTrees() {
	img.root.isoID = []byte{0}
	img.root.jolietID = []byte{0}

	queue := []*node{img.root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		img.isoDirs = append(img.isoDirs, dir)
		// newImage rejects more than maxDirectories before any number
		// is written, so min only keeps the conversion defined.
		dir.isoNumber = uint16(min(len(img.isoDirs), maxDirectories))

		slices.SortFunc(dir.children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
		assignLevel1IDs(dir)
		for _, child := range dir.children {
			child.jolietID = appendUCS2(make([]byte, 0, 2*len(child.name)), child.name)
		}

		dir.isoChildren = slices.Clone(dir.children)
		slices.SortFunc(dir.isoChildren, compareLevel1)
		dir.jolietChildren = slices.Clone(dir.children)
		slices.SortFunc(dir.jolietChildren, func(a, b *node) int { return bytes.Compare(a.jolietID, b.jolietID) })

		for _, child := range dir.isoChildren {
			if child.isDir {
				queue = append(queue, child)
			} else {
				img.files = append(img.files, child)
			}
		}
	}

	queue = append(queue[:0], img.root)
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		img.jolietDirs = append(img.jolietDirs, dir)
		dir.jolietNumber = uint16(min(len(img.jolietDirs), maxDirectories))
		for _, child := range dir.jolietChildren {
			if child.isDir {
				queue = append(queue, child)
			}
		}
	}
}

// placeExtents assigns a sector to every path table, directory,
// continuation area and file.
func (img *image) placeExtents() error {
	sector := uint64(firstFreeSector)

	img.isoPathTable.size = pathTableSize(img.isoDirs, func(n *node) []byte { return n.isoID })
	img.jolietPathTable.size = pathTableSize(img.jolietDirs, func(n *node) []byte { return n.jolietID })
	for _, pt := range []*pathTableLayout{&img.isoPathTable, &img.jolietPathTable} {
		n := sectorsFor(uint64(pt.size))
		pt.lSector = uint32(sector)
		pt.mSector = uint32(sector + n)
		sector += 2 * n
	}

	for _, dir := range img.isoDirs {
		dir.isoExtent = extent{sector: uint32(sector), size: isoDirSize(dir)}
		sector += uint64(dir.isoExtent.size / sectorSize)
	}
	for _, dir := range img.jolietDirs {
		dir.jolietExtent = extent{sector: uint32(sector), size: jolietDirSize(dir)}
		sector += uint64(dir.jolietExtent.size / sectorSize)
	}

	img.ceStart = uint32(sector)
	img.placeContinuationAreas()
	sector += uint64(img.ceSectors)
	img.metaSectors = uint32(sector)

	for _, f := range img.files {
		// An empty file owns no sector. Its extent points at sector 0, which
		// readers never read for a data length of 0.
		if len(f.data) == 0 {
			continue
		}
		f.dataSector = uint32(sector)
		sector += sectorsFor(uint64(len(f.data)))
		if sector > math.MaxUint32 {
			return fmt.Errorf("iso9660: the image needs more than %d sectors of %d bytes, the ISO 9660 maximum, so put fewer or smaller files on it", uint32(math.MaxUint32), sectorSize)
		}
	}
	// NOTE: the image ends right after the last file, without the
	// 150-sector padding that genisoimage adds for old CD drives. blkid,
	// isoinfo and xorriso read images of 25 sectors (no files). Whether
	// Hyper-V accepts images this small is not verified yet.
	img.totalSectors = uint32(sector)
	return nil
}

// placeContinuationAreas packs the continuation areas into sectors from
// img.ceStart. An area never crosses a sector boundary, because Linux
// (fs/isofs/rock.c) rejects a CE entry whose offset and length pass the end
// of its block.
func (img *image) placeContinuationAreas() {
	if len(img.ceAreas) == 0 {
		return
	}
	var p recordPacker
	for _, area := range img.ceAreas {
		at := uint32(p.place(len(area.cont)))
		area.ceSector = img.ceStart + at/sectorSize
		area.ceOffset = at % sectorSize
	}
	img.ceSectors = p.size() / sectorSize
}

func sectorsFor(bytes uint64) uint64 {
	return (bytes + sectorSize - 1) / sectorSize
}

// recordPacker places directory records or continuation areas in an
// extent. A record never crosses a sector boundary (ECMA-119 6.8.1.1), so a
// record that does not fit in the rest of a sector starts the next one.
// Sizing and writing use the same packer, so both see the same offsets.
type recordPacker struct {
	offset int // bytes from the start of the extent
}

// place returns the offset for the next item of n bytes.
func (p *recordPacker) place(n int) int {
	if used := p.offset % sectorSize; used+n > sectorSize {
		p.offset += sectorSize - used
	}
	at := p.offset
	p.offset += n
	return at
}

// size returns the extent size in bytes: whole sectors, at least one.
func (p *recordPacker) size() uint32 {
	return uint32(max(1, sectorsFor(uint64(p.offset)))) * sectorSize
}

func isoDirSize(dir *node) uint32 {
	var p recordPacker
	p.place(recordLen(1, dir.dotSUSP.recordBytes()))
	p.place(recordLen(1, dir.dotdotSUSP.recordBytes()))
	for _, child := range dir.isoChildren {
		p.place(recordLen(len(child.isoID), child.susp.recordBytes()))
	}
	return p.size()
}

func jolietDirSize(dir *node) uint32 {
	var p recordPacker
	p.place(recordLen(1, 0))
	p.place(recordLen(1, 0))
	for _, child := range dir.jolietChildren {
		p.place(recordLen(len(child.jolietID), 0))
	}
	return p.size()
}

// recordLen returns the length of a directory record with an identifier of
// idLen bytes and suspLen bytes of System Use entries. ECMA-119 9.1.12 pads
// the identifier to an even length, and the record length is kept even as
// well.
func recordLen(idLen, suspLen int) int {
	n := 33 + idLen
	if n%2 == 1 {
		n++
	}
	n += suspLen
	if n%2 == 1 {
		n++
	}
	return n
}

func pathTableSize(dirs []*node, id func(*node) []byte) uint32 {
	var size uint32
	for _, dir := range dirs {
		size += uint32(pathTableRecordLen(len(id(dir))))
	}
	return size
}

// pathTableRecordLen returns the length of a path table record (ECMA-119
// 9.4), whose identifier is padded to an even length.
func pathTableRecordLen(idLen int) int {
	return 8 + idLen + idLen%2
}
