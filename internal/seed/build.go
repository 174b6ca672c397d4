package seed

import (
	"fmt"
	"mime"
	"net/textproto"
	"path"
	"strings"

	"github.com/vmgenie/vmgenie/internal/iso9660"
)

// TemplateMergeType is the Merge-Type header of the template's cloud-config
// part, which comes after the user's parts in the combined user-data.
// cloud-init merges each cloud-config part into the configuration built
// from the parts before it, using the merge type of the incoming part. With
// the template last, "dict(no_replace,recurse_list)" keeps every value the
// user set and adds the template's other keys, recursing into mappings and
// lists, and "list(prepend)" puts the template's list items (packages,
// runcmd, users) before the user's. docs/seed.md explains the choice.
const TemplateMergeType = "dict(no_replace,recurse_list)+list(prepend)+str()"

// emptyUserData is written when there is no user-data at all, because
// NoCloud requires the file and cloud-init warns about an empty one.
var emptyUserData = []byte("#cloud-config\n{}\n")

type builder struct {
	spec     Spec
	warnings []Warning
}

func (b *builder) warn(source string, line int, message string) {
	b.warnings = append(b.warnings, Warning{Source: source, Line: line, Message: message})
}

func (b *builder) build() (*Seed, error) {
	volumeID := b.spec.VolumeID
	switch volumeID {
	case "":
		volumeID = VolumeIDLower
	case VolumeIDLower, VolumeIDUpper:
	default:
		return nil, fmt.Errorf("invalid volume ID %q: use %q or %q, the labels cloud-init looks for", volumeID, VolumeIDLower, VolumeIDUpper)
	}
	modTime := b.spec.ModTime
	if modTime.IsZero() {
		var err error
		if modTime, err = iso9660.DefaultModTime(); err != nil {
			return nil, fmt.Errorf("choose the image time: %w", err)
		}
	}

	seed := &Seed{volumeID: volumeID, modTime: modTime}
	userData, format, err := b.userData()
	if err != nil {
		return nil, err
	}
	seed.UserDataFormat = format
	seed.Files = append(seed.Files, iso9660.File{Path: UserDataName, Data: userData})

	var metaData []byte
	if b.spec.MetaData == nil {
		metaData, seed.InstanceID, seed.Hostname, err = b.generateMetaData()
		seed.MetaDataGenerated = true
	} else {
		metaData, seed.InstanceID, seed.Hostname, err = b.checkMetaData(*b.spec.MetaData)
	}
	if err != nil {
		return nil, err
	}
	seed.Files = append(seed.Files, iso9660.File{Path: MetaDataName, Data: metaData})

	if b.spec.NetworkConfig != nil {
		data, err := b.checkNetworkConfig(*b.spec.NetworkConfig)
		if err != nil {
			return nil, err
		}
		seed.Files = append(seed.Files, iso9660.File{Path: NetworkConfigName, Data: data})
	}
	if b.spec.VendorData != nil {
		data, err := b.vendorData(*b.spec.VendorData)
		if err != nil {
			return nil, err
		}
		seed.Files = append(seed.Files, iso9660.File{Path: VendorDataName, Data: data})
	}

	extras, err := checkExtraFiles(b.spec.Files)
	if err != nil {
		return nil, err
	}
	seed.Files = append(seed.Files, extras...)
	seed.Warnings = b.warnings
	return seed, nil
}

// userData checks the template and the user's documents and combines them.
func (b *builder) userData() (data []byte, format string, err error) {
	var template *part
	if b.spec.Template != nil {
		src := *b.spec.Template
		p, _, err := b.checkPart(part{origin: src.Name, content: src.Data}, "")
		if err != nil {
			return nil, "", err
		}
		if p.contentType != typeCloudConfig {
			return nil, "", &InputError{Source: src.Name, Line: 1, Column: 1,
				Problem: "template user-data must be a #cloud-config document, but it is " + p.contentType,
				Hint:    "start the template's user-data with \"#cloud-config\""}
		}
		p.header = textproto.MIMEHeader{"Merge-Type": {TemplateMergeType}}
		template = &p
	}

	var docs []*document
	for _, src := range b.spec.UserData {
		doc, err := b.parseDocument(src)
		if err != nil {
			return nil, "", err
		}
		docs = append(docs, doc)
	}

	var parts []part
	for _, doc := range docs {
		parts = append(parts, doc.parts...)
	}
	b.checkPartFilenames(parts)

	switch {
	case template == nil && len(parts) == 0:
		return emptyUserData, "empty", nil
	case template != nil && len(parts) == 0:
		return template.content, "cloud-config", nil
	case template == nil && len(docs) == 1 && docs[0].asGiven:
		return docs[0].source.Data, "as-given", nil
	case template == nil && len(parts) == 1 && !docs[0].mime:
		return parts[0].content, "as-given", nil
	}
	if template != nil {
		parts = append(parts, *template)
	}
	data, err = writeMultipart(parts)
	if err != nil {
		return nil, "", err
	}
	return data, "multipart", nil
}

// vendorData checks a vendor-data document, which may take any user-data
// format. It is written as given unless a fix was applied.
func (b *builder) vendorData(src Source) ([]byte, error) {
	doc, err := b.parseDocument(src)
	if err != nil {
		return nil, err
	}
	switch {
	case doc.asGiven:
		return src.Data, nil
	case len(doc.parts) == 1 && !doc.mime:
		return doc.parts[0].content, nil
	}
	return writeMultipart(doc.parts)
}

// checkPartFilenames warns about parts that share a file name, because
// cloud-init writes each script part to a file of that name and the later
// part replaces the earlier.
func (b *builder) checkPartFilenames(parts []part) {
	seen := map[string]string{}
	for _, p := range parts {
		name := partFilename(p)
		if name == "" {
			continue
		}
		if first, ok := seen[name]; ok {
			b.warn(p.origin, 0, fmt.Sprintf("has the same file name %q as %s; cloud-init stores both under that name and keeps only the later one", name, first))
			continue
		}
		seen[name] = p.origin
	}
}

func partFilename(p part) string {
	disposition := p.header.Get("Content-Disposition")
	if disposition == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(disposition)
	if err != nil {
		return ""
	}
	return params["filename"]
}

// reservedNames are the seed files that an extra file must not replace.
var reservedNames = map[string]bool{
	UserDataName: true, MetaDataName: true, NetworkConfigName: true, VendorDataName: true,
}

// checkExtraFiles checks the image paths of extra files: relative,
// slash-separated, no "." or ".." elements, no seed file names, and no two
// paths that differ only in case (Windows reads the Joliet names without
// regard to case).
func checkExtraFiles(files []ExtraFile) ([]iso9660.File, error) {
	seen := map[string]string{}
	out := make([]iso9660.File, 0, len(files))
	for _, f := range files {
		p := f.Path
		switch {
		case p == "":
			return nil, fmt.Errorf("invalid extra file name for %s: it is empty; give NAME=PATH", f.Origin)
		case strings.HasPrefix(p, "/") || strings.Contains(p, "\\"):
			return nil, fmt.Errorf("invalid extra file name %q: use a relative path with forward slashes, such as scripts/setup.sh", p)
		case path.Clean(p) != p || strings.HasPrefix(p, "../") || p == "..":
			return nil, fmt.Errorf("invalid extra file name %q: remove \".\", \"..\" and repeated or trailing slashes", p)
		case reservedNames[strings.ToLower(p)]:
			return nil, fmt.Errorf("invalid extra file name %q: it would replace the seed's own %s; give that file with its own option", p, strings.ToLower(p))
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7F {
				return nil, fmt.Errorf("invalid extra file name %q: it contains a control character", p)
			}
		}
		key := strings.ToLower(p)
		if first, ok := seen[key]; ok {
			return nil, fmt.Errorf("extra file names %q and %q differ only in case, which Windows guests cannot tell apart; rename one", first, p)
		}
		seen[key] = p
		out = append(out, iso9660.File{Path: p, Data: f.Data})
	}
	return out, nil
}
