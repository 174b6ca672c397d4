package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func smallSeed() []File {
	return []File{
		{Path: "user-data", Data: []byte("#cloud-config\nhostname: vm1\nusers:\n  - name: dev\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1 dev@host\n    sudo: ALL=(ALL) NOPASSWD:ALL\npackage_update: true\npackages: [curl, git]\n")},
		{Path: "meta-data", Data: []byte("instance-id: iid-vm1-0001\nlocal-hostname: vm1\n")},
		{Path: "network-config", Data: []byte("version: 2\nethernets:\n  eth0:\n    match:\n      name: en*\n    dhcp4: true\n    dhcp6: false\n")},
	}
}

func writeBytes(t testing.TB, files []File, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, files, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// checkContents parses img with the test reader and checks that both trees
// hold exactly files, with their directories.
func checkContents(t testing.TB, img []byte, files []File) *readImage {
	t.Helper()
	got, err := parseImage(img)
	if err != nil {
		t.Fatalf("parseImage: %v", err)
	}

	wantDirs := map[string]bool{}
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			wantDirs[dir] = true
		}
	}
	for _, tree := range []struct {
		name  string
		files map[string][]byte
		dirs  map[string]bool
	}{{"Rock Ridge", got.rrFiles, got.rrDirs}, {"Joliet", got.jolietFiles, got.jolietDirs}} {
		if len(tree.files) != len(files) {
			t.Errorf("%s tree has %d files, want %d", tree.name, len(tree.files), len(files))
		}
		for _, f := range files {
			data, ok := tree.files[f.Path]
			if !ok {
				t.Errorf("%s tree lacks %q", tree.name, f.Path)
				continue
			}
			if !bytes.Equal(data, f.Data) {
				t.Errorf("%s tree: %q has %d bytes that differ from the %d written", tree.name, f.Path, len(data), len(f.Data))
			}
		}
		if fmt.Sprint(tree.dirs) != fmt.Sprint(wantDirs) {
			t.Errorf("%s tree directories %v, want %v", tree.name, tree.dirs, wantDirs)
		}
	}
	return got
}

func TestWriteSmallSeed(t *testing.T) {
	img := writeBytes(t, smallSeed(), Options{ModTime: testTime})
	got := checkContents(t, img, smallSeed())

	if len(img) >= 100_000 {
		t.Errorf("image is %d bytes, want well under 100 KB", len(img))
	}
	if got.volumeID != "cidata" {
		t.Errorf("primary volume ID %q, want cidata", got.volumeID)
	}
	if got.jolietVolumeID != "cidata" {
		t.Errorf("Joliet volume ID %q, want cidata", got.jolietVolumeID)
	}
	if got.modTime != "2024050607080900" {
		t.Errorf("modification date %q, want 2024050607080900", got.modTime)
	}
	if got.rrModes["user-data"] != 0o100444 {
		t.Errorf("user-data mode %o, want 100444", got.rrModes["user-data"])
	}
	if got.isoIDs["network-config"] != "NETWORK_.;1" {
		t.Errorf("network-config has level-1 identifier %q, want NETWORK_.;1", got.isoIDs["network-config"])
	}
	// The ER entry of the root does not fit in its "." record.
	if got.ceCount != 1 {
		t.Errorf("followed %d CE entries, want 1", got.ceCount)
	}
}

func TestWriteEmptyImage(t *testing.T) {
	img := writeBytes(t, nil, Options{ModTime: testTime})
	checkContents(t, img, nil)
}

func TestWriteEmptyFile(t *testing.T) {
	files := []File{{Path: "empty"}, {Path: "vendor-data", Data: []byte{}}, {Path: "meta-data", Data: []byte("x")}}
	img := writeBytes(t, files, Options{ModTime: testTime})
	checkContents(t, img, files)
}

func TestWriteVolumeID(t *testing.T) {
	for _, id := range []string{"cidata", "CIDATA", "config-2", "A", "abcdefghij_12345"} {
		img := writeBytes(t, smallSeed(), Options{VolumeID: id, ModTime: testTime})
		got := checkContents(t, img, smallSeed())
		if got.volumeID != id {
			t.Errorf("VolumeID %q: primary volume descriptor has %q", id, got.volumeID)
		}
		if got.jolietVolumeID != id {
			t.Errorf("VolumeID %q: Joliet volume descriptor has %q", id, got.jolietVolumeID)
		}
	}
}

func TestWriteInvalidVolumeID(t *testing.T) {
	for _, id := range []string{"ci data", "cidata!", "abcdefghij_123456", "é", "ci/data"} {
		err := Write(&bytes.Buffer{}, smallSeed(), Options{VolumeID: id, ModTime: testTime})
		if !errors.Is(err, ErrInvalidVolumeID) {
			t.Errorf("VolumeID %q: error %v, want ErrInvalidVolumeID", id, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", id)) {
			t.Errorf("VolumeID %q: error %q does not name the value", id, err)
		}
	}
}

func TestWriteInvalidPaths(t *testing.T) {
	tests := []struct {
		name    string
		files   []File
		message string // part of the expected error
	}{
		{"empty", []File{{Path: ""}}, "empty"},
		{"absolute", []File{{Path: "/user-data"}}, "starts with a slash"},
		{"double slash", []File{{Path: "a//b"}}, "empty component"},
		{"trailing slash", []File{{Path: "a/"}}, "empty component"},
		{"dot", []File{{Path: "./user-data"}}, `"."`},
		{"dot dot", []File{{Path: "a/../b"}}, `".."`},
		{"NUL", []File{{Path: "a\x00b"}}, "control character"},
		{"newline", []File{{Path: "a\nb"}}, "control character"},
		{"backslash", []File{{Path: `a\b`}}, "backslash"},
		{"colon", []File{{Path: "a:b"}}, "Joliet"},
		{"Joliet length", []File{{Path: strings.Repeat("n", 65)}}, "65 characters long, but Joliet names allow at most 64"},
		{"Joliet length in directory", []File{{Path: strings.Repeat("d", 65) + "/f"}}, "at most 64"},
		{"Rock Ridge length", []File{{Path: strings.Repeat("n", 256)}}, "256 bytes long, but Rock Ridge names allow at most 255"},
		{"invalid UTF-8", []File{{Path: "a\xffb"}}, "UTF-8"},
		{"outside BMP", []File{{Path: "smile-\U0001F600"}}, "Basic Multilingual Plane"},
		{"too deep", []File{{Path: "1/2/3/4/5/6/7/8/f"}}, "9 components"},
		{"duplicate", []File{{Path: "a"}, {Path: "a"}}, "given twice"},
		{"file then directory", []File{{Path: "a"}, {Path: "a/b"}}, "both a file and a directory"},
		{"directory then file", []File{{Path: "a/b"}, {Path: "a"}}, "both a file and a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tt.files, Options{ModTime: testTime})
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v, want ErrInvalidPath", err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
			bad := tt.files[len(tt.files)-1].Path
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
				t.Errorf("error %q does not name the path %q", err, bad)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestWriteLongestNames(t *testing.T) {
	files := []File{
		{Path: strings.Repeat("a", 64), Data: []byte("ascii")},
		// 64 three-byte characters: 192 bytes, more than fits in a
		// directory record next to PX and TF, so NM goes to a
		// continuation area.
		{Path: strings.Repeat("€", 64), Data: []byte("euro")},
		{Path: "1/2/3/4/5/6/7/" + strings.Repeat("z", 64), Data: []byte("deep")},
	}
	img := writeBytes(t, files, Options{ModTime: testTime})
	got := checkContents(t, img, files)
	if got.ceCount < 2 {
		t.Errorf("followed %d CE entries, want at least 2 (root ER and the long name)", got.ceCount)
	}
}

func TestWriteInvalidModTime(t *testing.T) {
	for _, mod := range []time.Time{time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2156, 1, 1, 0, 0, 0, 0, time.UTC)} {
		err := Write(&bytes.Buffer{}, smallSeed(), Options{ModTime: mod})
		if err == nil || !strings.Contains(err.Error(), "ModTime") {
			t.Errorf("ModTime %s: error %v, want one naming ModTime", mod, err)
		}
	}
}

// manyFiles returns n files with names of 64 characters in dir, enough to
// fill several directory sectors.
func manyFiles(dir string, n int) []File {
	var files []File
	for i := range n {
		name := fmt.Sprintf("file-%02d-", i)
		name += strings.Repeat("x", 64-len(name))
		if dir != "" {
			name = dir + "/" + name
		}
		files = append(files, File{Path: name, Data: []byte(fmt.Sprintf("content of file %d\n", i))})
	}
	return files
}

func TestWriteMultiSectorDirectory(t *testing.T) {
	files := append(manyFiles("", 40), manyFiles("sub", 40)...)
	img := writeBytes(t, files, Options{ModTime: testTime})
	checkContents(t, img, files)

	root := rootExtentSize(img, 16)
	if root < 3*2048 {
		t.Errorf("root directory is %d bytes, want at least 3 sectors for this test to cover records across sectors", root)
	}
}

// rootExtentSize returns the data length of the root directory recorded in
// the volume descriptor at sector vd.
func rootExtentSize(img []byte, vd int) uint32 {
	rec := img[vd*2048+156:]
	return binary.LittleEndian.Uint32(rec[10:14])
}

func TestWriteManyContinuationAreas(t *testing.T) {
	// Every name needs a continuation area, and the areas fill several
	// sectors.
	var files []File
	for i := range 40 {
		name := fmt.Sprintf("%02d", i) + strings.Repeat("€", 62)
		files = append(files, File{Path: "euro/" + name, Data: []byte(name)})
	}
	img := writeBytes(t, files, Options{ModTime: testTime})
	got := checkContents(t, img, files)
	if got.ceCount != 41 {
		t.Errorf("followed %d CE entries, want 41", got.ceCount)
	}
}

func TestWriteNestedDirectories(t *testing.T) {
	files := []File{
		{Path: "user-data", Data: []byte("#cloud-config\n")},
		{Path: "scripts/setup.sh", Data: []byte("#!/bin/sh\necho setup\n")},
		{Path: "scripts/lib/common.sh", Data: []byte("common\n")},
		{Path: "scripts/lib/more/deeper/file.txt", Data: []byte("deep\n")},
		{Path: "a/b/c/d/e/f/g/h", Data: []byte("deepest allowed\n")},
		{Path: "z.dir/x.tar.gz", Data: []byte("dots\n")},
	}
	img := writeBytes(t, files, Options{ModTime: testTime})
	got := checkContents(t, img, files)
	if got.isoIDs["z.dir"] != "Z_DIR" {
		t.Errorf("directory z.dir has identifier %q, want Z_DIR", got.isoIDs["z.dir"])
	}
	if got.isoIDs["z.dir/x.tar.gz"] != "X_TAR.GZ;1" {
		t.Errorf("x.tar.gz has identifier %q, want X_TAR.GZ;1", got.isoIDs["z.dir/x.tar.gz"])
	}
}

func TestWriteCollidingNames(t *testing.T) {
	files := []File{
		{Path: "user-data", Data: []byte("1")},
		{Path: "user_data", Data: []byte("2")},
		{Path: "USER-DATA", Data: []byte("3")},
		{Path: "user-data-extra", Data: []byte("4")},
		{Path: "user-da1", Data: []byte("5")},
		{Path: "user-dat/x", Data: []byte("6")}, // the directory USER_DAT
		{Path: "config.yaml", Data: []byte("7")},
		{Path: "config.yml", Data: []byte("8")},
		{Path: ".hidden", Data: []byte("9")},
		{Path: "_hidden", Data: []byte("10")},
	}
	img := writeBytes(t, files, Options{ModTime: testTime})
	got := checkContents(t, img, files)

	ids := map[string]string{}
	for p, id := range got.isoIDs {
		if other, ok := ids[id]; ok && path.Dir(other) == path.Dir(p) {
			t.Errorf("%q and %q share identifier %q", other, p, id)
		}
		ids[id] = p
	}
	if got.isoIDs["USER-DATA"] != "USER_DAT.;1" {
		t.Errorf("USER-DATA (first in byte order) has %q, want USER_DAT.;1", got.isoIDs["USER-DATA"])
	}
}

func TestLevel1Identifiers(t *testing.T) {
	tests := []struct {
		names []string
		want  []string
	}{
		{[]string{"meta-data", "network-config", "user-data", "vendor-data"}, []string{"META_DAT.;1", "NETWORK_.;1", "USER_DAT.;1", "VENDOR_D.;1"}},
		{[]string{"a.b.c", "README", "x.tar.gz", "é.txt"}, []string{"A_B.C;1", "README.;1", "X_TAR.GZ;1", "_.TXT;1"}},
		{[]string{".bashrc", "trailing."}, []string{"_BASHRC.;1", "TRAILING.;1"}},
		{[]string{"aaaaaaaa1", "aaaaaaaa2", "aaaaaaaa3"}, []string{"AAAAAAAA.;1", "AAAAAAA1.;1", "AAAAAAA2.;1"}},
	}
	for _, tt := range tests {
		dir := &node{isDir: true}
		for _, name := range tt.names {
			dir.children = append(dir.children, &node{name: name, parent: dir})
		}
		assignLevel1IDs(dir)
		for i, child := range dir.children {
			if string(child.isoID) != tt.want[i] {
				t.Errorf("%q: identifier %q, want %q", child.name, child.isoID, tt.want[i])
			}
		}
	}
}

func TestLevel1CollisionCounterGrows(t *testing.T) {
	dir := &node{isDir: true}
	for i := range 120 {
		dir.children = append(dir.children, &node{name: fmt.Sprintf("collide-%03d", i), parent: dir})
	}
	assignLevel1IDs(dir)
	seen := map[string]bool{}
	for _, child := range dir.children {
		id := string(child.isoID)
		if seen[id] {
			t.Fatalf("identifier %q repeats", id)
		}
		seen[id] = true
		if len(id) > len("12345678.;1") {
			t.Errorf("identifier %q is longer than 8.3", id)
		}
	}
	if !seen["COLLI100.;1"] {
		t.Errorf("the 101st collision did not get COLLI100.;1: %v", seen)
	}
}

func TestWriteDeterministic(t *testing.T) {
	files := append(smallSeed(), manyFiles("scripts", 30)...)
	files = append(files, File{Path: "empty"}, File{Path: "scripts/lib/x.sh", Data: []byte("x")})
	first := writeBytes(t, files, Options{ModTime: testTime})
	second := writeBytes(t, files, Options{ModTime: testTime})
	if !bytes.Equal(first, second) {
		t.Fatal("two writes of the same files differ")
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := append([]File(nil), files...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if !bytes.Equal(first, writeBytes(t, shuffled, Options{ModTime: testTime})) {
			t.Fatal("a write of the shuffled files differs")
		}
	}

	if bytes.Equal(first, writeBytes(t, files, Options{ModTime: testTime.Add(time.Second)})) {
		t.Error("a different ModTime gives the same bytes")
	}
}

func TestWriteKeepsCallerSlice(t *testing.T) {
	files := []File{{Path: "b"}, {Path: "a"}}
	writeBytes(t, files, Options{ModTime: testTime})
	if files[0].Path != "b" || files[1].Path != "a" {
		t.Errorf("Write reordered the caller's slice: %v", files)
	}
}

func TestWriteLargeFile(t *testing.T) {
	data := make([]byte, 5<<20+123)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	files := append(smallSeed(), File{Path: "payload/blob.bin", Data: data})
	img := writeBytes(t, files, Options{ModTime: testTime})
	checkContents(t, img, files)
}

// failingWriter fails after accepting limit bytes.
type failingWriter struct{ limit int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errors.New("disk full")
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriteReportsWriterError(t *testing.T) {
	large := append(smallSeed(), File{Path: "blob", Data: make([]byte, 5<<20)})
	for _, files := range [][]File{smallSeed(), large} {
		err := Write(&failingWriter{limit: 40000}, files, Options{ModTime: testTime})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%d files: error %v, want the writer's error", len(files), err)
		}
	}
}

func TestDefaultModTime(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Time
		wantErr bool
	}{
		{"0", time.Unix(0, 0).UTC(), false},
		{"1700000000", time.Unix(1700000000, 0).UTC(), false},
		{"abc", time.Time{}, true},
		{"-1", time.Time{}, true},
		{"1.5", time.Time{}, true},
		{" 17", time.Time{}, true},
		{"99999999999", time.Time{}, true}, // year 5138
	}
	for _, tt := range tests {
		t.Setenv("SOURCE_DATE_EPOCH", tt.value)
		got, err := DefaultModTime()
		if tt.wantErr {
			if err == nil {
				t.Errorf("SOURCE_DATE_EPOCH=%q: no error", tt.value)
				continue
			}
			if !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
				t.Errorf("SOURCE_DATE_EPOCH=%q: error %q does not name the variable", tt.value, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.value)) {
				t.Errorf("SOURCE_DATE_EPOCH=%q: error %q does not name the value", tt.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %v", tt.value, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("SOURCE_DATE_EPOCH=%q: got %v, want %v", tt.value, got, tt.want)
		}
		if got.Location() != time.UTC {
			t.Errorf("SOURCE_DATE_EPOCH=%q: location %v, want UTC", tt.value, got.Location())
		}
	}
}

func TestDefaultModTimeUnset(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	before := time.Now()
	got, err := DefaultModTime()
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("got %v, want the current time", got)
	}
	if got.Location() != time.UTC {
		t.Errorf("location %v, want UTC", got.Location())
	}
}

func TestWriteUsesSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // 2023-11-14T22:13:20Z
	first := writeBytes(t, smallSeed(), Options{})
	got := checkContents(t, first, smallSeed())
	if got.modTime != "2023111422132000" {
		t.Errorf("modification date %q, want 2023111422132000", got.modTime)
	}
	if !bytes.Equal(first, writeBytes(t, smallSeed(), Options{})) {
		t.Error("two writes with SOURCE_DATE_EPOCH differ")
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	err := Write(&bytes.Buffer{}, smallSeed(), Options{})
	if err == nil || !strings.Contains(err.Error(), `"yesterday"`) {
		t.Errorf("invalid SOURCE_DATE_EPOCH: error %v, want one naming the value", err)
	}
}

func TestParseImageDetectsCorruption(t *testing.T) {
	img := writeBytes(t, manyFiles("", 40), Options{ModTime: testTime})
	if _, err := parseImage(img); err != nil {
		t.Fatalf("valid image: %v", err)
	}
	for _, c := range corruptions {
		if _, err := parseImage(c.corrupt(t, img)); err == nil {
			t.Errorf("parseImage accepted an image with %s", c.name)
		}
	}
}

// corruptions each damage one Rock Ridge field of an image written from
// manyFiles("", 40), to prove that the checks can fail.
var corruptions = []struct {
	name    string
	corrupt func(testing.TB, []byte) []byte
}{
	{"an NM entry of length 0 in the second directory sector", corruptNM},
	{"a CE entry pointing past the image", corruptCE},
}

// rootDirOffset returns the byte offset of the root directory extent.
func rootDirOffset(img []byte) int {
	rec := img[16*2048+156:]
	return int(binary.LittleEndian.Uint32(rec[2:6])) * 2048
}

// corruptNM returns a copy of img in which the last NM entry in the second
// sector of the root directory has length 0, which SUSP forbids.
func corruptNM(t testing.TB, img []byte) []byte {
	t.Helper()
	bad := bytes.Clone(img)
	root := rootDirOffset(bad)
	sector := bad[root+2048 : root+4096]
	i := bytes.LastIndex(sector, []byte("NM"))
	if i < 0 {
		t.Fatal("no NM entry in the second root directory sector")
	}
	sector[i+2] = 0
	return bad
}

// corruptCE returns a copy of img in which the CE entry of the root's "."
// record points at a sector past the end of the image.
func corruptCE(t testing.TB, img []byte) []byte {
	t.Helper()
	bad := bytes.Clone(img)
	root := rootDirOffset(bad)
	i := bytes.Index(bad[root:root+2048], []byte("CE"))
	if i < 0 {
		t.Fatal("no CE entry in the root directory")
	}
	putBoth32(bad[root+i+4:], uint32(len(img)/2048+10))
	return bad
}
