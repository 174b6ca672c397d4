package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/seed"
	"github.com/vmgenie/vmgenie/internal/seed/isoread"
)

func init() { commandFactories = append(commandFactories, newSeedCommand) }

func newSeedCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Build and inspect NoCloud seed images",
	}
	cmd.AddCommand(newSeedCreateCommand(a), newSeedInspectCommand(a))
	return cmd
}

// seedCreateOptions are the flags of "seed create".
type seedCreateOptions struct {
	output           string
	userData         []string
	templateUserData string
	metaData         string
	networkConfig    string
	vendorData       string
	files            []string
	hostname         string
	instanceID       string
	volumeID         string
}

func newSeedCreateCommand(a *app) *cobra.Command {
	var opts seedCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OUTPUT [USER-DATA [META-DATA]]]",
		Short: "Write a NoCloud seed ISO (volume label cidata) from user-data and meta-data",
		Long: `Write a NoCloud seed ISO for cloud-init, like cloud-localds.

Every input is checked before the image is written. YAML is checked by the
rules of PyYAML, which cloud-init uses; a UTF-8 byte-order mark is removed
and CRLF line ends in scripts become LF, each with a warning on stderr.

Several --user-data files, and a --template-user-data document, are
combined into one MIME multipart user-data, so nothing in them is lost. A
single --user-data file is written as it is unless a fix was applied.

Without --meta-data, the meta-data gets a fresh instance-id and the
hostname from --hostname (default "vm-" and 8 hex digits of the
instance-id).

The positional form of cloud-localds is accepted too:
  vmgenie seed create OUTPUT USER-DATA [META-DATA]
A file name of "-" reads user-data from stdin, or writes the image to stdout.`,
		Example: `  vmgenie seed create -o seed.iso --user-data user-data.yaml --hostname web-1
  vmgenie seed create seed.iso user-data meta-data
  vmgenie seed create -o seed.iso --template-user-data base.yaml --user-data setup.sh --file scripts/a.sh=./a.sh`,
		Args: cobra.MaximumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.applyPositional(cmd, args); err != nil {
				return err
			}
			return runSeedCreate(a, &opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "", "image file to write (\"-\" for stdout)")
	f.StringArrayVar(&opts.userData, "user-data", nil, "user-data file in any format cloud-init accepts; repeat to combine several (\"-\" for stdin)")
	f.StringVar(&opts.templateUserData, "template-user-data", "", "#cloud-config document that the --user-data files are combined with, as a template's user-data is")
	f.StringVar(&opts.metaData, "meta-data", "", "meta-data file (YAML or JSON with instance-id); default: generated")
	f.StringVarP(&opts.networkConfig, "network-config", "N", "", "network-config file (version 1 or 2)")
	f.StringVarP(&opts.vendorData, "vendor-data", "V", "", "vendor-data file in any user-data format")
	f.StringArrayVar(&opts.files, "file", nil, "extra file for the image as NAME=PATH, NAME being its path on the image; repeatable")
	f.StringVarP(&opts.hostname, "hostname", "H", "", "local-hostname of the generated meta-data")
	f.StringVar(&opts.instanceID, "instance-id", "", "instance-id of the generated meta-data (default: iid- and 16 random hex digits)")
	f.StringVar(&opts.volumeID, "volume-id", seed.VolumeIDLower, "volume label: cidata or CIDATA")
	return cmd
}

// applyPositional fills the options from cloud-localds's positional form.
func (o *seedCreateOptions) applyPositional(cmd *cobra.Command, args []string) error {
	conflicts := []struct {
		index int
		flag  string
	}{{0, "output"}, {1, "user-data"}, {2, "meta-data"}}
	for _, c := range conflicts {
		if len(args) > c.index && cmd.Flags().Changed(c.flag) {
			return fmt.Errorf("both --%s and the positional argument %q are given: use one", c.flag, args[c.index])
		}
	}
	if len(args) > 0 {
		o.output = args[0]
	}
	if len(args) > 1 {
		o.userData = []string{args[1]}
	}
	if len(args) > 2 {
		o.metaData = args[2]
	}
	if o.output == "" {
		return errors.New("missing output file: give -o FILE (or the positional form OUTPUT USER-DATA [META-DATA])")
	}
	return nil
}

func runSeedCreate(a *app, opts *seedCreateOptions) error {
	log := a.log().With("output", opts.output)
	spec := seed.Spec{
		Hostname:   opts.hostname,
		InstanceID: opts.instanceID,
		VolumeID:   opts.volumeID,
	}
	stdinUsed := false
	read := func(flag, name string) (*seed.Source, error) {
		if name == "-" {
			if stdinUsed {
				return nil, fmt.Errorf("invalid --%s \"-\": stdin is already read for another input", flag)
			}
			stdinUsed = true
			data, err := io.ReadAll(a.stdin)
			if err != nil {
				return nil, fmt.Errorf("read --%s from stdin: %w", flag, err)
			}
			return &seed.Source{Name: "stdin", Data: data}, nil
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read --%s file: %w", flag, err)
		}
		return &seed.Source{Name: name, Data: data}, nil
	}

	var err error
	for _, name := range opts.userData {
		src, err := read("user-data", name)
		if err != nil {
			return err
		}
		spec.UserData = append(spec.UserData, *src)
	}
	optional := []struct {
		flag, name string
		dst        **seed.Source
	}{
		{"template-user-data", opts.templateUserData, &spec.Template},
		{"meta-data", opts.metaData, &spec.MetaData},
		{"network-config", opts.networkConfig, &spec.NetworkConfig},
		{"vendor-data", opts.vendorData, &spec.VendorData},
	}
	for _, o := range optional {
		if o.name == "" {
			continue
		}
		if *o.dst, err = read(o.flag, o.name); err != nil {
			return err
		}
	}
	for _, assignment := range opts.files {
		name, path, ok := strings.Cut(assignment, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("invalid --file %q: use NAME=PATH, such as scripts/setup.sh=./setup.sh", assignment)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read --file %s: %w", name, err)
		}
		spec.Files = append(spec.Files, seed.ExtraFile{Path: name, Origin: path, Data: data})
	}
	if len(spec.UserData) == 0 && spec.Template == nil {
		return errors.New("missing user-data: give --user-data FILE or --template-user-data FILE")
	}

	log.Info("building seed image", "user_data", len(spec.UserData), "template", spec.Template != nil)
	s, err := seed.Build(spec)
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(a.stderr, "vmgenie: warning: %s\n", w)
	}

	if opts.output == "-" {
		image, err := s.Image()
		if err != nil {
			return err
		}
		if _, err := a.stdout.Write(image); err != nil {
			return fmt.Errorf("write seed image to stdout: %w", err)
		}
	} else if err := s.WriteFile(opts.output, 0o644); err != nil {
		return err
	}
	log.Info("wrote seed image", "instance_id", s.InstanceID, "hostname", s.Hostname,
		"user_data_format", s.UserDataFormat, "warnings", len(s.Warnings))
	return nil
}

// seedInspection is the JSON output of "seed inspect".
type seedInspection struct {
	VolumeID string         `json:"volume_id"`
	Names    string         `json:"names"`
	Files    []isoread.File `json:"files"`
}

func newSeedInspectCommand(a *app) *cobra.Command {
	var out outputFlag
	var cat string
	cmd := &cobra.Command{
		Use:   "inspect ISO",
		Short: "List the files and the volume label of a seed image",
		Example: `  vmgenie seed inspect seed.iso
  vmgenie seed inspect seed.iso -o json
  vmgenie seed inspect seed.iso --cat user-data`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read seed image: %w", err)
			}
			img, err := isoread.Read(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				return fmt.Errorf("read seed image %s: %w", args[0], err)
			}
			if cat != "" {
				content, err := img.ReadFile(strings.TrimPrefix(cat, "/"))
				if err != nil {
					return fmt.Errorf("--cat %s: %w; list the files with \"vmgenie seed inspect %s\"", cat, err, args[0])
				}
				_, err = a.stdout.Write(content)
				return err
			}
			if out.format != "json" {
				fmt.Fprintf(a.stdout, "Volume ID: %s (%s names)\n", img.VolumeID, img.Names)
			}
			return out.print(a.stdout, seedInspection{VolumeID: img.VolumeID, Names: img.Names, Files: img.Files}, func(t *table) {
				t.header("PATH", "SIZE")
				for _, f := range img.Files {
					t.row(f.Path, strconv.FormatInt(f.Size, 10))
				}
			})
		},
	}
	out.register(cmd)
	cmd.Flags().StringVar(&cat, "cat", "", "print the content of this file on the image instead of the list")
	return cmd
}
