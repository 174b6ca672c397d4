package template

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SampleSSHPublicKey is the key that validation renders templates with.
const SampleSSHPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHHcbnu3nGqQSNQlh1+8yPWcC2ZJ9cBIDXg/X9FIzXUn sample@vmgenie"

// SampleValues returns valid values for every variable, as validation uses
// them. PACKAGES keeps the template's default.
func SampleValues() Values {
	var v Values
	_ = v.Set(VarHostname, "sample-host")
	_ = v.Set(VarSSHPublicKey, SampleSSHPublicKey)
	_ = v.Set(VarInstanceID, "i-0123456789abcdef")
	_ = v.SetList(VarRuncmd, []string{"touch /var/tmp/vmgenie-sample"})
	return v
}

// SchemaChecker checks rendered user-data, for example with
// CloudInitSchema. A nil SchemaChecker skips the check.
type SchemaChecker func(ctx context.Context, userData []byte) error

// ValidateTemplate renders a template with sample values twice, once with
// its default PACKAGES and a RUNCMD item and once with both empty. Each
// result must have every placeholder known and in a safe place, valid YAML,
// "#cloud-config" user-data, meta-data with instance-id and local-hostname
// and network-config with a version. A non-nil schema also checks the
// user-data. It returns all problems joined.
func ValidateTemplate(ctx context.Context, t *Template, schema SchemaChecker) error {
	full := SampleValues()
	empty := SampleValues()
	_ = empty.SetList(VarPackages, nil)
	_ = empty.SetList(VarRuncmd, nil)

	var errs []error
	for i, values := range []Values{full, empty} {
		r, err := t.Render(values)
		if err != nil {
			errs = append(errs, err)
			if i == 0 {
				// The second render would repeat the same problems.
				break
			}
			continue
		}
		errs = append(errs, checkSeedKeys(t, r)...)
		if i == 1 && hasKey(r.UserData, "packages") {
			errs = append(errs, &Error{File: t.filePath(UserDataFile), Variable: VarPackages,
				Err: errors.New("user-data has a packages key although PACKAGES is empty: write it as \"packages: {{ PACKAGES }}\" so an empty list drops the line")})
		}
		if schema != nil {
			if err := schema(ctx, r.UserData); err != nil {
				label := "with sample values"
				if i == 1 {
					label = "with PACKAGES and RUNCMD empty"
				}
				errs = append(errs, &Error{File: t.filePath(UserDataFile), Err: fmt.Errorf("rendered %s: %w", label, err)})
			}
		}
	}
	return errors.Join(errs...)
}

// checkSeedKeys checks the keys NoCloud needs in the rendered files.
func checkSeedKeys(t *Template, r *Rendered) []error {
	var errs []error
	meta := map[string]any{}
	_ = yaml.Unmarshal(r.MetaData, &meta)
	for _, key := range []string{"instance-id", "local-hostname"} {
		if _, ok := meta[key]; !ok {
			errs = append(errs, &Error{File: t.filePath(MetaDataFile), Err: fmt.Errorf("meta-data has no %s key", key)})
		}
	}
	if r.NetworkConfig != nil {
		network := map[string]any{}
		_ = yaml.Unmarshal(r.NetworkConfig, &network)
		if v, ok := network["version"]; !ok || (v != 1 && v != 2) {
			errs = append(errs, &Error{File: t.filePath(NetworkConfigFile), Err: errors.New("network-config needs \"version: 1\" or \"version: 2\"")})
		}
	}
	return errs
}

func hasKey(data []byte, key string) bool {
	doc := map[string]any{}
	_ = yaml.Unmarshal(data, &doc)
	_, ok := doc[key]
	return ok
}

// ValidateDir validates a template directory on disk: a whole catalog
// (<OS>/<version>/seed-data/...), one template directory (<OS>/<version>)
// or one seed-data directory. It returns the templates it found and all
// problems joined.
func ValidateDir(ctx context.Context, dir string, schema SchemaChecker) ([]*Template, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("template directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("template directory %s is not a directory", dir)
	}

	var templates []*Template
	switch {
	case fileExists(filepath.Join(abs, UserDataFile)):
		templates = []*Template{singleTemplate(abs)}
	case fileExists(filepath.Join(abs, seedDataDir, UserDataFile)):
		templates = []*Template{singleTemplate(filepath.Join(abs, seedDataDir))}
	default:
		templates, err = loadFS(os.DirFS(abs), "", abs)
		if err != nil {
			return templates, fmt.Errorf("template directory %s: %w", abs, err)
		}
		if len(templates) == 0 {
			return nil, fmt.Errorf("template directory %s has no templates: lay it out as <OS>/<version>/seed-data/user-data", abs)
		}
	}

	var errs []error
	for _, t := range templates {
		if err := ValidateTemplate(ctx, t, schema); err != nil {
			errs = append(errs, err)
		}
	}
	return templates, errors.Join(errs...)
}

// singleTemplate returns the template for one seed directory. Its OS and
// version come from the directory names <OS>/<version>/seed-data when they
// are valid names, and are "custom" and "1" otherwise.
func singleTemplate(seedDir string) *Template {
	t := &Template{OS: "custom", Version: "1", fsys: os.DirFS(seedDir), seed: ".", display: filepath.ToSlash(seedDir), Source: seedDir}
	if filepath.Base(seedDir) != seedDataDir {
		return t
	}
	versionDir := filepath.Dir(seedDir)
	version := filepath.Base(versionDir)
	osName := filepath.Base(filepath.Dir(versionDir))
	t.fsys = os.DirFS(versionDir)
	t.seed = seedDataDir
	t.display = filepath.ToSlash(versionDir)
	t.Source = versionDir
	if osNamePattern().MatchString(osName) && versionNamePattern().MatchString(version) {
		t.OS, t.Version = osName, version
	}
	return t
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

// CloudInitSchema checks user-data with "cloud-init schema --config-file",
// which must be on PATH. The error wraps exec.ErrNotFound when cloud-init
// is missing.
func CloudInitSchema(ctx context.Context, userData []byte) error {
	path, err := exec.LookPath("cloud-init")
	if err != nil {
		return fmt.Errorf("cloud-init schema: %w: install cloud-init to check user-data against its schema", err)
	}
	dir, err := os.MkdirTemp("", "vmgenie-schema-")
	if err != nil {
		return fmt.Errorf("cloud-init schema: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, UserDataFile)
	if err := os.WriteFile(file, userData, 0o600); err != nil {
		return fmt.Errorf("cloud-init schema: %w", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "schema", "--config-file", file)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cloud-init schema rejected the user-data: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
