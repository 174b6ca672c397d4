// Package instance stores vmgenie instances on disk. Each instance is a
// directory <data_dir>/cloud/<name>/ with its metadata.yml, seed data, seed
// ISO, SSH key pair, disk overlay, serial log and hypervisor control files.
// Every file is replaced atomically.
package instance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
)

// Errors that callers test with errors.Is.
var (
	ErrNotFound = errors.New("instance not found")
	ErrConflict = errors.New("instance already exists")
)

// Phase is the stage of an instance's life. Provisioning marks an instance
// whose creation has not finished, and a service that starts and finds one
// removes it.
type Phase string

// Phases of an instance.
const (
	PhaseProvisioning Phase = "provisioning"
	PhaseReady        Phase = "ready"
	PhaseFailed       Phase = "failed"
)

// Metadata is the content of metadata.yml.
type Metadata struct {
	Name       string    `yaml:"name" json:"name"`
	Phase      Phase     `yaml:"phase" json:"phase"`
	OS         string    `yaml:"os" json:"os"`
	Version    string    `yaml:"version" json:"version"`
	Image      string    `yaml:"image" json:"image"`
	ImagePath  string    `yaml:"image_path" json:"image_path"`
	Network    string    `yaml:"network" json:"network"`
	Username   string    `yaml:"username" json:"username"`
	CPUs       int       `yaml:"cpus" json:"cpus"`
	MemoryMiB  int       `yaml:"memory_mib" json:"memory_mib"`
	DiskGiB    int       `yaml:"disk_gib" json:"disk_gib"`
	Driver     string    `yaml:"driver" json:"driver"`
	DriverID   string    `yaml:"driver_id,omitempty" json:"driver_id,omitempty"`
	InstanceID string    `yaml:"instance_id" json:"instance_id"`
	SSHHost    string    `yaml:"ssh_host,omitempty" json:"ssh_host,omitempty"`
	SSHPort    int       `yaml:"ssh_port,omitempty" json:"ssh_port,omitempty"`
	CreatedAt  time.Time `yaml:"created_at" json:"created_at"`
	// OperationID names the service operation that is provisioning the
	// instance, while Phase is provisioning.
	OperationID string `yaml:"operation_id,omitempty" json:"operation_id,omitempty"`
}

// File names inside an instance directory.
const (
	MetadataFile  = "metadata.yml"
	SeedDataDir   = "seed-data"
	SeedISOFile   = "seed.iso"
	SerialLogFile = "serial.log"
)

// Store is the set of instances under one data directory.
type Store struct {
	root string
}

// Open returns the store under dataDir, creating <dataDir>/cloud (mode 0700,
// since instance directories hold private keys) when it is missing.
func Open(dataDir string) (*Store, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory %q: %w", dataDir, err)
	}
	root := filepath.Join(abs, "cloud")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create instance directory %s: %w; check that the data directory is writable or set data_dir in the configuration", root, err)
	}
	return &Store{root: root}, nil
}

// Root returns the directory that holds the instance directories.
func (s *Store) Root() string { return s.root }

// Dir returns the directory of the named instance.
func (s *Store) Dir(name string) string { return filepath.Join(s.root, name) }

// PrivateKeyPath returns the instance's SSH private key file, <name>.pem.
func (s *Store) PrivateKeyPath(name string) string {
	return filepath.Join(s.Dir(name), name+".pem")
}

// PublicKeyPath returns the instance's SSH public key file, <name>.pub.
func (s *Store) PublicKeyPath(name string) string {
	return filepath.Join(s.Dir(name), name+".pub")
}

// Path returns a file inside the instance directory.
func (s *Store) Path(name, file string) string { return filepath.Join(s.Dir(name), file) }

// Create claims the directory of a new instance and writes its first
// metadata. It fails with ErrConflict when the name is taken, so an existing
// instance is never adopted.
func (s *Store) Create(md *Metadata) error {
	if err := ValidateName(md.Name); err != nil {
		return err
	}
	dir := s.Dir(md.Name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %q has a directory at %s; delete it with \"vmgenie delete %s\" or choose another name",
				ErrConflict, md.Name, dir, md.Name)
		}
		return fmt.Errorf("create instance directory %s: %w", dir, err)
	}
	if err := s.Save(md); err != nil {
		os.RemoveAll(dir)
		return err
	}
	return nil
}

// Save replaces the instance's metadata.yml.
func (s *Store) Save(md *Metadata) error {
	data, err := yaml.Marshal(md)
	if err != nil {
		return fmt.Errorf("encode metadata of %q: %w", md.Name, err)
	}
	return atomicfile.WriteFile(s.Path(md.Name, MetadataFile), data, 0o600)
}

// Load reads the named instance's metadata.
func (s *Store) Load(name string) (*Metadata, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	path := s.Path(name, MetadataFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, dirErr := os.Stat(s.Dir(name)); dirErr == nil {
			return nil, fmt.Errorf("%w: %q has a directory at %s but no %s; remove the directory by hand if it is a leftover",
				ErrNotFound, name, s.Dir(name), MetadataFile)
		}
		return nil, fmt.Errorf("%w: %q; \"vmgenie list\" shows the instances", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read metadata of %q: %w", name, err)
	}
	var md Metadata
	if err := yaml.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if md.Name != name {
		return nil, fmt.Errorf("%s names instance %q, not %q; the directory was renamed by hand", path, md.Name, name)
	}
	return &md, nil
}

// List returns the metadata of every instance, sorted by name. Directories
// without a readable metadata.yml are skipped and returned as errors beside
// the list.
func (s *Store) List() ([]*Metadata, []error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, []error{fmt.Errorf("list instances in %s: %w", s.root, err)}
	}
	var list []*Metadata
	var problems []error
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		md, err := s.Load(e.Name())
		if err != nil {
			problems = append(problems, err)
			continue
		}
		list = append(list, md)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, problems
}

// Remove deletes the instance directory and everything in it. Removing an
// instance that does not exist is not an error.
func (s *Store) Remove(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := os.RemoveAll(s.Dir(name)); err != nil {
		return fmt.Errorf("remove instance directory %s: %w", s.Dir(name), err)
	}
	return nil
}
