package iso9660

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// These tests read the images with the tools that guests and users rely on:
// blkid (util-linux) for the label that cloud-init looks up, isoinfo
// (genisoimage) and xorriso (libisofs) for the Rock Ridge and Joliet trees.
// scripts/test.sh installs them.

// requireTool returns the path of tool. When the tool is missing, the test
// fails in CI (CI=true) and is skipped elsewhere.
func requireTool(t *testing.T, tool, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, tool)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; CI must install the Debian package %s (scripts/test.sh does)", tool, debianPackage)
	}
	t.Skipf("%s is not installed; run scripts/deps.sh %s to run this test", tool, debianPackage)
	return ""
}

func writeImageFile(t *testing.T, files []File, opts Options) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed.iso")
	if err := os.WriteFile(p, writeBytes(t, files, opts), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// expectedPaths returns every file and directory of files as absolute
// paths, mapped through name.
func expectedPaths(files []File, name func(string) string) []string {
	set := map[string]bool{}
	for _, f := range files {
		p := f.Path
		for p != "." {
			parts := strings.Split(p, "/")
			for i := range parts {
				parts[i] = name(parts[i])
			}
			set["/"+strings.Join(parts, "/")] = true
			p = path.Dir(p)
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func sortedLines(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" {
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

func exactName(s string) string { return s }

// latin1Name is how isoinfo -J prints a Joliet name: it converts UCS-2 to
// ISO 8859-1 and prints '_' for characters outside it.
func latin1Name(s string) string {
	var b []byte
	for _, r := range s {
		if r > 0xff {
			b = append(b, '_')
		} else {
			b = append(b, byte(r))
		}
	}
	return string(b)
}

var blkidUnescape = strings.NewReplacer(`\\`, `\`, `\ `, " ")

// checkBlkid checks that blkid probes the image as ISO 9660 with label.
func checkBlkid(t *testing.T, iso, label string) {
	t.Helper()
	blkid := requireTool(t, "blkid", "util-linux")
	out, stderr, err := run(t, blkid, "-p", "-o", "export", iso)
	if err != nil {
		t.Fatalf("blkid -p %s: %v\n%s%s", iso, err, out, stderr)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			// The export format escapes spaces and other
			// characters with a backslash.
			fields[k] = blkidUnescape.Replace(v)
		}
	}
	if fields["TYPE"] != "iso9660" {
		t.Errorf("blkid TYPE=%q, want iso9660\n%s", fields["TYPE"], out)
	}
	if fields["LABEL"] != label {
		t.Errorf("blkid LABEL=%q, want %q\n%s", fields["LABEL"], label, out)
	}
	if fields["VERSION"] != "Joliet Extension" {
		t.Errorf("blkid VERSION=%q, want Joliet Extension", fields["VERSION"])
	}
}

// checkIsoinfo lists and extracts every file through the Rock Ridge tree
// (-R) and the Joliet tree (-J) with isoinfo.
func checkIsoinfo(t *testing.T, iso string, files []File) {
	t.Helper()
	isoinfo := requireTool(t, "isoinfo", "genisoimage")
	for _, tree := range []struct {
		flag string
		name func(string) string
	}{{"-R", exactName}, {"-J", latin1Name}} {
		out, stderr, err := run(t, isoinfo, tree.flag, "-f", "-i", iso)
		if err != nil || len(stderr) > 0 {
			t.Fatalf("isoinfo %s -f: %v\n%s", tree.flag, err, stderr)
		}
		got, want := sortedLines(out), expectedPaths(files, tree.name)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("isoinfo %s -f lists\n%s\nwant\n%s", tree.flag, strings.Join(got, "\n"), strings.Join(want, "\n"))
			continue
		}

		seen := map[string]bool{}
		for _, f := range files {
			p := expectedPaths([]File{{Path: f.Path}}, tree.name)
			name := p[len(p)-1]
			if seen[name] {
				// Two names map to the same ISO 8859-1 name, which
				// isoinfo cannot tell apart.
				continue
			}
			seen[name] = true
			data, stderr, err := run(t, isoinfo, tree.flag, "-i", iso, "-x", name)
			if err != nil || len(stderr) > 0 {
				t.Errorf("isoinfo %s -x %q: %v\n%s", tree.flag, name, err, stderr)
				continue
			}
			if !bytes.Equal(data, f.Data) {
				t.Errorf("isoinfo %s -x %q returned %d bytes that differ from the %d written", tree.flag, name, len(data), len(f.Data))
			}
		}
	}
}

// xorrisoProblem matches the messages libisofs, libburn and xorriso print
// for damaged images, such as "libisofs: SORRY : Damaged RR/SUSP
// information." or "libisofs: WARNING : ...".
var xorrisoProblem = regexp.MustCompile(`(?m)^.*\b(SORRY|FAILURE|WARNING|FATAL|MISHAP|ABORT|ERROR)\b.*$`)

// xorrisoList loads the image with xorriso and lists it with lsdl. readFS is
// "any" for the Rock Ridge tree or "norock" for the Joliet tree. It returns
// the listed paths and every problem message.
func xorrisoList(t *testing.T, iso, readFS string) (paths, problems []string) {
	t.Helper()
	xorriso := requireTool(t, "xorriso", "xorriso")
	out, stderr, err := run(t, xorriso, "-abort_on", "NEVER", "-return_with", "SORRY", "32",
		"-read_fs", readFS, "-indev", iso, "-find", "/", "-exec", "lsdl", "--")
	all := string(out) + string(stderr)
	problems = xorrisoProblem.FindAllString(all, -1)
	if err != nil {
		problems = append(problems, fmt.Sprintf("xorriso exited with %v", err))
	}

	for _, line := range strings.Split(string(out), "\n") {
		// lsdl lines look like: -r--r--r--  1 0  0  15 May  6  2024 '/meta-data'
		i := strings.Index(line, " '/")
		if len(line) < 10 || !strings.ContainsRune("-d", rune(line[0])) || i < 0 {
			continue
		}
		quoted := line[i+1:]
		p := strings.ReplaceAll(strings.Trim(quoted, "'"), `'"'"'`, "'")
		if p != "/" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths, problems
}

// checkXorriso loads both trees with xorriso, checks that it reports no
// damage and lists exactly the expected paths, and extracts every file.
func checkXorriso(t *testing.T, iso string, files []File) {
	t.Helper()
	want := expectedPaths(files, exactName)
	for _, readFS := range []string{"any", "norock"} {
		paths, problems := xorrisoList(t, iso, readFS)
		if len(problems) > 0 {
			t.Errorf("xorriso -read_fs %s reports problems:\n%s", readFS, strings.Join(problems, "\n"))
		}
		if strings.Join(paths, "\n") != strings.Join(want, "\n") {
			t.Errorf("xorriso -read_fs %s lists\n%s\nwant\n%s", readFS, strings.Join(paths, "\n"), strings.Join(want, "\n"))
		}

		dir := filepath.Join(t.TempDir(), "extract")
		xorriso := requireTool(t, "xorriso", "xorriso")
		out, stderr, err := run(t, xorriso, "-abort_on", "FAILURE", "-read_fs", readFS, "-indev", iso, "-osirrox", "on", "-extract", "/", dir)
		if err != nil {
			t.Errorf("xorriso -read_fs %s -extract: %v\n%s%s", readFS, err, out, stderr)
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
			if err != nil {
				t.Errorf("xorriso -read_fs %s -extract: %v", readFS, err)
				continue
			}
			if !bytes.Equal(data, f.Data) {
				t.Errorf("xorriso -read_fs %s extracted %d bytes for %q that differ from the %d written", readFS, len(data), f.Path, len(f.Data))
			}
		}
	}
}

func checkWithTools(t *testing.T, files []File, opts Options, label string) {
	t.Helper()
	iso := writeImageFile(t, files, opts)
	checkBlkid(t, iso, label)
	checkIsoinfo(t, iso, files)
	checkXorriso(t, iso, files)
}

func TestToolsReadImages(t *testing.T) {
	blob := make([]byte, 5<<20)
	for i := range blob {
		blob[i] = byte(i * 7 >> 3)
	}
	var euro []File
	for i := range 40 {
		name := fmt.Sprintf("%02d-", i) + strings.Repeat("€", 61)
		euro = append(euro, File{Path: "euro/" + name, Data: []byte(name)})
	}

	tests := []struct {
		name  string
		files []File
	}{
		{"small seed", smallSeed()},
		{"no files", nil},
		{"empty files", []File{{Path: "meta-data"}, {Path: "user-data", Data: []byte("#cloud-config\n")}, {Path: "vendor-data"}}},
		{"5 MB file", append(smallSeed(), File{Path: "payload/blob.bin", Data: blob})},
		{"40 long names", manyFiles("", 40)},
		{"40 long names in subdirectory", append(smallSeed(), manyFiles("scripts/many", 40)...)},
		{"continuation areas", euro},
		{"nested directories", []File{
			{Path: "user-data", Data: []byte("#cloud-config\n")},
			{Path: "scripts/setup.sh", Data: []byte("#!/bin/sh\necho setup\n")},
			{Path: "scripts/lib/common.sh", Data: []byte("common\n")},
			{Path: "a/b/c/d/e/f/g/h", Data: []byte("deepest allowed\n")},
		}},
		{"colliding names", []File{
			{Path: "user-data", Data: []byte("1")},
			{Path: "user_data", Data: []byte("2")},
			{Path: "USER-DATA", Data: []byte("3")},
			{Path: "user-data-extra", Data: []byte("4")},
			{Path: "user-da1", Data: []byte("5")},
			{Path: "user-dat/x", Data: []byte("6")},
			{Path: "config.yaml", Data: []byte("7")},
			{Path: "config.yml", Data: []byte("8")},
		}},
		{"unusual characters", []File{
			{Path: "it's a \"name\" with spaces", Data: []byte("q")},
			{Path: "ü-umlaut.txt", Data: []byte("u")},
			{Path: ".hidden", Data: []byte("h")},
			{Path: "trailing.", Data: []byte("t")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWithTools(t, tt.files, Options{ModTime: testTime}, "cidata")
		})
	}
}

func TestToolsUppercaseLabel(t *testing.T) {
	checkWithTools(t, smallSeed(), Options{VolumeID: "CIDATA", ModTime: testTime}, "CIDATA")
}

func TestToolsXorrisoCheckDetectsCorruption(t *testing.T) {
	files := manyFiles("", 40)
	img := writeBytes(t, files, Options{ModTime: testTime})
	iso := filepath.Join(t.TempDir(), "seed.iso")
	if err := os.WriteFile(iso, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, problems := xorrisoList(t, iso, "any"); len(problems) > 0 {
		t.Fatalf("valid image: xorriso reports problems:\n%s", strings.Join(problems, "\n"))
	}

	for _, c := range corruptions {
		if err := os.WriteFile(iso, c.corrupt(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		_, problems := xorrisoList(t, iso, "any")
		if len(problems) == 0 {
			t.Errorf("xorriso reports no problem for an image with %s, so the check cannot fail", c.name)
			continue
		}
		t.Logf("xorriso on an image with %s:\n%s", c.name, strings.Join(problems, "\n"))
	}
}

// TestToolsMatchGenisoimage compares our image with the one that
// cloud-localds builds (genisoimage -volid cidata -joliet -rock) from the
// same files: blkid must report the same type and label, and isoinfo the
// same Rock Ridge and Joliet listings.
func TestToolsMatchGenisoimage(t *testing.T) {
	genisoimage := requireTool(t, "genisoimage", "genisoimage")
	blkid := requireTool(t, "blkid", "util-linux")
	isoinfo := requireTool(t, "isoinfo", "genisoimage")

	files := append(smallSeed(), File{Path: "vendor-data", Data: []byte("#cloud-config\n")})
	src := t.TempDir()
	var args []string
	for _, f := range files {
		p := filepath.Join(src, f.Path)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	reference := filepath.Join(t.TempDir(), "reference.iso")
	genArgs := append([]string{"-quiet", "-output", reference, "-volid", "cidata", "-joliet", "-rock"}, args...)
	if out, stderr, err := run(t, genisoimage, genArgs...); err != nil {
		t.Fatalf("genisoimage: %v\n%s%s", err, out, stderr)
	}
	ours := writeImageFile(t, files, Options{ModTime: testTime})

	probe := func(iso, key string) string {
		out, _, err := run(t, blkid, "-p", "-s", key, "-o", "value", iso)
		if err != nil {
			t.Fatalf("blkid -p -s %s %s: %v", key, iso, err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, key := range []string{"TYPE", "LABEL"} {
		if want, got := probe(reference, key), probe(ours, key); got != want {
			t.Errorf("blkid %s is %q, genisoimage's image has %q", key, got, want)
		}
	}

	for _, flag := range []string{"-R", "-J"} {
		want, _, err := run(t, isoinfo, flag, "-f", "-i", reference)
		if err != nil {
			t.Fatalf("isoinfo %s -f on genisoimage's image: %v", flag, err)
		}
		got, _, err := run(t, isoinfo, flag, "-f", "-i", ours)
		if err != nil {
			t.Fatalf("isoinfo %s -f: %v", flag, err)
		}
		if strings.Join(sortedLines(got), "\n") != strings.Join(sortedLines(want), "\n") {
			t.Errorf("isoinfo %s -f lists\n%s\ngenisoimage's image lists\n%s", flag, got, want)
		}
	}
}
