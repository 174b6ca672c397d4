package template

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vmgenie/vmgenie/etc"
)

// EnvTemplateDir names the environment variable that gives a template
// directory on disk when --template-dir is not set.
const EnvTemplateDir = "VMGENIE_TEMPLATE_DIR"

// EmbeddedSource is the Source of templates built into the binary.
const EmbeddedSource = "embedded"

// Names inside a template directory.
const (
	seedDataDir  = "seed-data"
	defaultsFile = "defaults.yaml"
)

var (
	// OS names may contain '-', version names may not, so the last '-' in
	// "<os>-<version>" splits a name without ambiguity.
	osNamePattern      = lazyRegexp(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	versionNamePattern = lazyRegexp(`^[a-z0-9][a-z0-9._]*$`)
)

// Template is one OS template: <OS>/<version>/seed-data/.
type Template struct {
	OS      string
	Version string
	// Source is EmbeddedSource or the template's directory on disk.
	Source string

	// fsys is rooted at the template directory <OS>/<version>.
	fsys fs.FS
	// seed is the seed data directory inside fsys: "seed-data", or "."
	// when a bare seed directory is validated.
	seed string
	// display is the path that messages show for the template directory.
	display string
}

// Name returns the template's name in the form "<os>-<version>", such as
// "ubuntu-24.04", which the service protocol uses.
func (t *Template) Name() string { return t.OS + "-" + t.Version }

func (t *Template) filePath(name string) string {
	return path.Join(t.display, t.seed, name)
}

// Files returns the names of the seed data files the template has.
func (t *Template) Files() []string {
	var names []string
	for _, name := range seedFiles {
		if _, err := fs.Stat(t.fsys, path.Join(t.seed, name)); err == nil {
			names = append(names, name)
		}
	}
	return names
}

// ReadFile returns the unrendered text of one seed data file.
func (t *Template) ReadFile(name string) ([]byte, error) {
	if !slices.Contains(seedFiles, name) {
		return nil, fmt.Errorf("unknown seed data file %q: use %s", name, strings.Join(seedFiles, ", "))
	}
	data, err := fs.ReadFile(t.fsys, path.Join(t.seed, name))
	if err != nil {
		return nil, fmt.Errorf("read template file %s: %w", t.filePath(name), err)
	}
	return normalizeText(data), nil
}

// readFiles reads the seed data files; user-data and meta-data must exist.
func (t *Template) readFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range seedFiles {
		data, err := fs.ReadFile(t.fsys, path.Join(t.seed, name))
		if errors.Is(err, fs.ErrNotExist) && name == NetworkConfigFile {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read template file %s: %w", t.filePath(name), err)
		}
		files[name] = normalizeText(data)
	}
	return files, nil
}

// normalizeText drops a UTF-8 byte order mark and turns CRLF into LF, so a
// template edited on Windows renders the same and line numbers match.
func normalizeText(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	return bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
}

// templateDefaults holds a template's defaults.yaml.
type templateDefaults struct {
	values Values
	// where is the location "file:line" of each default, by variable name.
	where map[string]string
}

// defaults reads the optional defaults.yaml next to seed-data, a mapping of
// variable names to a string or a list of strings.
func (t *Template) defaults() (templateDefaults, []*Error) {
	d := templateDefaults{where: map[string]string{}}
	if t.seed != seedDataDir {
		return d, nil
	}
	file := path.Join(t.display, defaultsFile)
	data, err := fs.ReadFile(t.fsys, defaultsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, []*Error{{File: file, Err: fmt.Errorf("read defaults: %w", err)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(normalizeText(data), &doc); err != nil {
		return d, []*Error{{File: file, Err: fmt.Errorf("invalid YAML: %w", err)}}
	}
	if len(doc.Content) == 0 {
		return d, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return d, []*Error{{File: file, Line: root.Line, Err: errors.New("defaults must be a mapping of variable names to values")}}
	}
	var errs []*Error
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if err := d.add(key.Value, value); err != nil {
			errs = append(errs, &Error{File: file, Line: key.Line, Variable: key.Value, Err: err})
			continue
		}
		d.where[key.Value] = fmt.Sprintf("%s:%d", file, key.Line)
	}
	return d, errs
}

// add sets the default of the variable called name from a YAML node.
func (d *templateDefaults) add(name string, value *yaml.Node) error {
	v, ok := LookupVariable(name)
	switch {
	case !ok:
		return fmt.Errorf("unknown variable: use one of %s", variableNames())
	case v.FromTemplate:
		return errors.New("set from the template's location and cannot have a default")
	}

	if v.Kind != List {
		if value.Kind != yaml.ScalarNode {
			return errors.New("string variable needs a string as its default")
		}
		return d.values.Set(name, value.Value)
	}

	if value.Kind != yaml.SequenceNode {
		return errors.New("list variable needs a YAML sequence of strings as its default")
	}
	items := []string{}
	for _, item := range value.Content {
		if item.Kind != yaml.ScalarNode {
			return errors.New("list items must be strings")
		}
		items = append(items, item.Value)
	}
	return d.values.SetList(name, items)
}

// Catalog is the set of templates: the embedded ones, plus or replaced by
// those in a directory on disk.
type Catalog struct {
	templates []*Template
}

// Load returns the embedded catalog merged with the template directory dir
// on disk. A template on disk replaces the embedded one with the same OS
// and version. An empty dir means the embedded catalog alone.
func Load(dir string) (*Catalog, error) {
	embedded, err := fs.Sub(etc.Cloud, "cloud")
	if err != nil {
		return nil, fmt.Errorf("open embedded catalog: %w", err)
	}
	templates, err := loadFS(embedded, EmbeddedSource, "")
	if err != nil {
		return nil, fmt.Errorf("embedded catalog: %w", err)
	}
	if dir != "" {
		disk, err := loadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, t := range disk {
			i := slices.IndexFunc(templates, func(e *Template) bool { return e.OS == t.OS && e.Version == t.Version })
			if i >= 0 {
				templates[i] = t
			} else {
				templates = append(templates, t)
			}
		}
	}
	sortTemplates(templates)
	return &Catalog{templates: templates}, nil
}

func loadDir(dir string) ([]*Template, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("template directory %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("template directory %s: %w: set --template-dir or %s to a directory laid out as <OS>/<version>/seed-data/", dir, err, EnvTemplateDir)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("template directory %s is not a directory", dir)
	}
	templates, err := loadFS(os.DirFS(abs), "", abs)
	if err != nil {
		return nil, fmt.Errorf("template directory %s: %w", abs, err)
	}
	return templates, nil
}

// loadFS reads the templates of a catalog laid out as
// <OS>/<version>/seed-data/. Files at the top and in OS directories, and
// directories whose names start with '.', are ignored. source "" means the
// template's directory on disk.
func loadFS(fsys fs.FS, source, display string) ([]*Template, error) {
	osEntries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var templates []*Template
	var errs []error
	for _, osEntry := range osEntries {
		if !osEntry.IsDir() || strings.HasPrefix(osEntry.Name(), ".") {
			continue
		}
		osName := osEntry.Name()
		if !osNamePattern().MatchString(osName) {
			errs = append(errs, fmt.Errorf("OS directory name %q is invalid: use a-z and 0-9 in words joined by '-', such as opensuse-leap", osName))
			continue
		}
		versionEntries, err := fs.ReadDir(fsys, osName)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, versionEntry := range versionEntries {
			if !versionEntry.IsDir() || strings.HasPrefix(versionEntry.Name(), ".") {
				continue
			}
			version := versionEntry.Name()
			dir := path.Join(osName, version)
			if !versionNamePattern().MatchString(version) {
				errs = append(errs, fmt.Errorf("version directory %s is invalid: use a-z, 0-9, '.' and '_' without '-', such as 24.04", dir))
				continue
			}
			sub, err := fs.Sub(fsys, dir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			t := &Template{OS: osName, Version: version, Source: source, fsys: sub, seed: seedDataDir, display: dir}
			if display != "" {
				t.display = filepath.ToSlash(filepath.Join(display, osName, version))
			}
			if source == "" {
				t.Source = filepath.Join(display, osName, version)
			}
			missing := false
			for _, required := range []string{UserDataFile, MetaDataFile} {
				if _, err := fs.Stat(sub, path.Join(seedDataDir, required)); err != nil {
					errs = append(errs, fmt.Errorf("template %s has no %s/%s: every template needs user-data and meta-data", dir, seedDataDir, required))
					missing = true
				}
			}
			if !missing {
				templates = append(templates, t)
			}
		}
	}
	return templates, errors.Join(errs...)
}

// sortTemplates orders templates by OS name, then by version with numeric
// parts compared as numbers (9 before 10, 22.04 before 24.04).
func sortTemplates(templates []*Template) {
	slices.SortFunc(templates, func(a, b *Template) int {
		if c := strings.Compare(a.OS, b.OS); c != 0 {
			return c
		}
		return compareVersions(a.Version, b.Version)
	})
}

// compareVersions compares dot-separated versions part by part. Numeric
// parts compare as numbers and sort before words such as "current".
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aErr := strconv.Atoi(as[i])
		bn, bErr := strconv.Atoi(bs[i])
		switch {
		case aErr == nil && bErr == nil:
			if an != bn {
				return an - bn
			}
		case aErr == nil:
			return -1
		case bErr == nil:
			return 1
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	return len(as) - len(bs)
}

// Templates returns the templates ordered by OS and version.
func (c *Catalog) Templates() []*Template { return slices.Clone(c.templates) }

// Lookup returns the template for an OS and version, such as "debian" and
// "12".
func (c *Catalog) Lookup(osName, version string) (*Template, error) {
	for _, t := range c.templates {
		if t.OS == osName && t.Version == version {
			return t, nil
		}
	}
	return nil, fmt.Errorf("template %s %s not found: available templates are %s", osName, version, c.names())
}

// LookupName returns the template with a name of the form "<os>-<version>",
// such as "ubuntu-24.04".
func (c *Catalog) LookupName(name string) (*Template, error) {
	osName, version, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	return c.Lookup(osName, version)
}

// OSNames returns the OS names in the catalog, sorted.
func (c *Catalog) OSNames() []string {
	var names []string
	for _, t := range c.templates {
		if !slices.Contains(names, t.OS) {
			names = append(names, t.OS)
		}
	}
	return names
}

// Versions returns the versions of one OS, oldest first.
func (c *Catalog) Versions(osName string) []string {
	var versions []string
	for _, t := range c.templates {
		if t.OS == osName {
			versions = append(versions, t.Version)
		}
	}
	return versions
}

func (c *Catalog) names() string {
	names := make([]string, len(c.templates))
	for i, t := range c.templates {
		names[i] = t.Name()
	}
	return strings.Join(names, ", ")
}

// ParseName splits a template name "<os>-<version>" at its last '-', such as
// "opensuse-leap-15.6" into "opensuse-leap" and "15.6".
func ParseName(name string) (osName, version string, err error) {
	i := strings.LastIndex(name, "-")
	if i <= 0 || i == len(name)-1 {
		return "", "", fmt.Errorf("invalid template name %q: use <os>-<version>, such as ubuntu-24.04", name)
	}
	osName, version = name[:i], name[i+1:]
	if !osNamePattern().MatchString(osName) || !versionNamePattern().MatchString(version) {
		return "", "", fmt.Errorf("invalid template name %q: use <os>-<version> with lowercase a-z, 0-9 and '.', such as ubuntu-24.04", name)
	}
	return osName, version, nil
}
