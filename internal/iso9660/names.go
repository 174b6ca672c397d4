package iso9660

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Identifier limits of ECMA-119 interchange level 1 (section 10.1): a file
// name of at most eight d-characters and an extension of at most three, and
// a directory name of at most eight.
const (
	maxLevel1Base = 8
	maxLevel1Ext  = 3
)

// splitPath validates path and returns its components.
func splitPath(path string) ([]string, error) {
	if path == "" {
		return nil, fmt.Errorf("%w %q: the path is empty, but every file needs a name such as \"user-data\"", ErrInvalidPath, path)
	}
	if strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%w %q: the path starts with a slash, but paths are relative to the image root (write \"user-data\", not \"/user-data\")", ErrInvalidPath, path)
	}

	parts := strings.Split(path, "/")
	if len(parts) > MaxDepth {
		return nil, fmt.Errorf("%w %q: the path has %d components, but ISO 9660 allows at most %d (seven directories and a file name), so flatten the directories", ErrInvalidPath, path, len(parts), MaxDepth)
	}
	for _, name := range parts {
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%w %q: %s", ErrInvalidPath, path, err.Error())
		}
	}
	return parts, nil
}

// nameError is a reason why one path component is invalid. The caller adds
// the path.
type nameError string

func (e nameError) Error() string { return string(e) }

// checkName validates one path component against the Rock Ridge and Joliet
// rules.
func checkName(name string) error {
	switch name {
	case "":
		return nameError("the path contains an empty component (a doubled or trailing slash), so remove the extra slash")
	case ".", "..":
		return nameError(fmt.Sprintf("the path contains the component %q, so give the path without it", name))
	}
	if len(name) > MaxNameBytes {
		return nameError(fmt.Sprintf("the name %.20q... is %d bytes long, but Rock Ridge names allow at most %d, so shorten it", name, len(name), MaxNameBytes))
	}
	if !utf8.ValidString(name) {
		return nameError(fmt.Sprintf("the name %q is not valid UTF-8, so Joliet cannot store it as UCS-2 (rename the file)", name))
	}

	units := 0
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f:
			return nameError(fmt.Sprintf("the name %q contains the control character %U, so remove it", name, r))
		case r == '\\':
			return nameError(fmt.Sprintf("the name %q contains a backslash, which Windows reads as a path separator, so remove it", name))
		case r == '*' || r == ':' || r == ';' || r == '?':
			return nameError(fmt.Sprintf("the name %q contains %q, which Joliet names must not contain, so remove it", name, r))
		case r > 0xffff:
			return nameError(fmt.Sprintf("the name %q contains %U, which is outside the Basic Multilingual Plane that Joliet UCS-2 names can store, so remove it", name, r))
		}
		units++
	}
	if units > MaxJolietNameLen {
		return nameError(fmt.Sprintf("the name %q is %d characters long, but Joliet names allow at most %d, so shorten it", name, units, MaxJolietNameLen))
	}
	return nil
}

// checkVolumeID validates a volume identifier: 1 to MaxVolumeIDLen
// characters from the ISO 9660 d-characters (A-Z, 0-9, _) plus lowercase
// letters, '-' and '.'. ECMA-119 allows d-characters only, but
// genisoimage writes "cidata" in lowercase and blkid and cloud-init match the
// label as written.
func checkVolumeID(id string) error {
	if len(id) > MaxVolumeIDLen {
		return fmt.Errorf("%w %q: it is %d characters long, but the Joliet volume descriptor stores at most %d, so shorten it", ErrInvalidVolumeID, id, len(id), MaxVolumeIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isDChar(c) && !('a' <= c && c <= 'z') && c != '-' && c != '.' {
			return fmt.Errorf("%w %q: it contains %q, but volume IDs may use only A-Z, a-z, 0-9, '_', '-' and '.', such as %q", ErrInvalidVolumeID, id, rune(c), DefaultVolumeID)
		}
	}
	return nil
}

func isDChar(c byte) bool {
	return ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_'
}

// level1Parts maps name to the base and extension of a level-1 identifier:
// lowercase letters become uppercase, every other character outside the
// d-characters becomes '_', and the parts are cut to 8 and 3 characters.
// Directory names get no extension.
func level1Parts(name string, isDir bool) (base, ext string) {
	if isDir {
		return mapDChars(name, maxLevel1Base), ""
	}

	// A leading dot marks a hidden file, not an extension.
	if strings.HasPrefix(name, ".") {
		name = "_" + name[1:]
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return mapDChars(name[:i], maxLevel1Base), mapDChars(name[i+1:], maxLevel1Ext)
	}
	return mapDChars(name, maxLevel1Base), ""
}

func mapDChars(s string, max int) string {
	var b strings.Builder
	b.Grow(max)
	for _, r := range s {
		if b.Len() == max {
			break
		}
		switch {
		case 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r < utf8.RuneSelf && isDChar(byte(r)):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// assignLevel1IDs gives each child of dir a unique level-1 identifier. The
// children must be sorted by name, which makes the choice deterministic. A
// name that collides with an earlier one gets a decimal counter in place of
// the end of its base: "USER_DAT" becomes "USER_DA1", "USER_DA2" and so on.
// Directories and files share one namespace, compared without the ";1"
// version and trailing dot, because Linux without Rock Ridge shows "FOO.;1"
// as "foo" just like the directory "FOO".
func assignLevel1IDs(dir *node) {
	used := make(map[string]struct{}, len(dir.children))
	for _, child := range dir.children {
		base, ext := level1Parts(child.name, child.isDir)
		candidate := base
		for n := 1; ; n++ {
			key := candidate + "." + ext
			if _, taken := used[key]; !taken {
				used[key] = struct{}{}
				break
			}
			suffix := strconv.Itoa(n)
			candidate = base
			if len(candidate)+len(suffix) > maxLevel1Base {
				candidate = candidate[:maxLevel1Base-len(suffix)]
			}
			candidate += suffix
		}

		child.isoBase, child.isoExt = candidate, ext
		if child.isDir {
			child.isoID = []byte(candidate)
		} else {
			child.isoID = []byte(candidate + "." + ext + ";1")
		}
	}
}

// compareLevel1 orders identifiers as ECMA-119 9.3 requires: by name, then
// by extension, each compared as if padded with spaces. Every d-character
// sorts after the space, so plain byte order of each part gives that result.
func compareLevel1(a, b *node) int {
	if c := strings.Compare(a.isoBase, b.isoBase); c != 0 {
		return c
	}
	if c := strings.Compare(a.isoExt, b.isoExt); c != 0 {
		return c
	}
	// Only a directory and a file can share base and extension, and
	// assignLevel1IDs prevents it. Keep the order total anyway.
	return strings.Compare(string(a.isoID), string(b.isoID))
}

// appendUCS2 appends s as UCS-2 big endian. checkName has rejected runes
// outside the Basic Multilingual Plane.
func appendUCS2(dst []byte, s string) []byte {
	for _, r := range s {
		dst = append(dst, byte(r>>8), byte(r))
	}
	return dst
}
