package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/template"
)

func init() { commandFactories = append(commandFactories, newTemplateCommand) }

// defaultSSHKeyFiles are tried, in order, when render gets neither
// SSH_PUBLIC_KEY nor --ssh-public-key-file. Paths are relative to the home
// directory.
var defaultSSHKeyFiles = []string{".ssh/id_ed25519.pub", ".ssh/id_ecdsa.pub", ".ssh/id_rsa.pub"}

// validateTimeout bounds one template validate run, including every
// cloud-init schema call.
const validateTimeout = 10 * time.Minute

// templateFlags holds the flags shared by the template subcommands.
type templateFlags struct {
	dir string
}

// catalog loads the embedded catalog merged with --template-dir, or with
// $VMGENIE_TEMPLATE_DIR when the flag is not set.
func (f *templateFlags) catalog() (*template.Catalog, error) {
	dir := f.dir
	if dir == "" {
		dir = os.Getenv(template.EnvTemplateDir)
	}
	return template.Load(dir)
}

func newTemplateCommand(a *app) *cobra.Command {
	flags := &templateFlags{}
	cmd := &cobra.Command{
		Use:   "template",
		Short: "List, show, render and validate OS templates",
		Long: `OS templates are cloud-init seed data (user-data, meta-data and optionally
network-config) with {{ NAME }} placeholders, laid out as
<OS>/<version>/seed-data/. The default templates are built in; a directory
given by --template-dir or $` + template.EnvTemplateDir + ` adds templates or replaces
built-in ones with the same OS and version.`,
	}
	cmd.PersistentFlags().StringVar(&flags.dir, "template-dir", "",
		"template directory on disk laid out as <OS>/<version>/seed-data/ (default $"+template.EnvTemplateDir+")")
	cmd.AddCommand(
		newTemplateListCommand(a, flags),
		newTemplateShowCommand(a, flags),
		newTemplateRenderCommand(a, flags),
		newTemplateValidateCommand(a, flags),
		newTemplateVariablesCommand(a),
	)
	return cmd
}

// completeTemplateArgs completes OS names for the first argument and that
// OS's versions for the second.
func completeTemplateArgs(flags *templateFlags) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		c, err := flags.catalog()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		switch len(args) {
		case 0:
			return c.OSNames(), cobra.ShellCompDirectiveNoFileComp
		case 1:
			return c.Versions(args[0]), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// templateInfo is one row of "template list".
type templateInfo struct {
	Name    string   `json:"name"`
	OS      string   `json:"os"`
	Version string   `json:"version"`
	Source  string   `json:"source"`
	Files   []string `json:"files"`
}

func newTemplateListCommand(a *app, flags *templateFlags) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the templates with their OS, version and source",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := flags.catalog()
			if err != nil {
				return err
			}
			infos := []templateInfo{}
			for _, t := range c.Templates() {
				infos = append(infos, templateInfo{Name: t.Name(), OS: t.OS, Version: t.Version, Source: t.Source, Files: t.Files()})
			}
			return out.print(a.stdout, infos, func(tb *table) {
				tb.header("OS", "VERSION", "NAME", "SOURCE")
				for _, info := range infos {
					tb.row(info.OS, info.Version, info.Name, info.Source)
				}
			})
		},
	}
	out.register(cmd)
	return cmd
}

func newTemplateShowCommand(a *app, flags *templateFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show OS VERSION",
		Short:             "Print a template's files without rendering them",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeTemplateArgs(flags),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.catalog()
			if err != nil {
				return err
			}
			t, err := c.Lookup(args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "# template %s from %s\n", t.Name(), t.Source)
			for _, name := range t.Files() {
				data, err := t.ReadFile(name)
				if err != nil {
					return err
				}
				if err := writeFileSection(a.stdout, name, data); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return cmd
}

// writeFileSection writes a "==> name <==" header and the file's text.
func writeFileSection(w io.Writer, name string, data []byte) error {
	if _, err := fmt.Fprintf(w, "==> %s <==\n", name); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		_, err := fmt.Fprintln(w)
		return err
	}
	return nil
}

type renderFlags struct {
	vars       []string
	sshKeyFile string
	outputDir  string
}

func newTemplateRenderCommand(a *app, flags *templateFlags) *cobra.Command {
	var rf renderFlags
	cmd := &cobra.Command{
		Use:   "render OS VERSION",
		Short: "Render a template into seed data files",
		Long: `Render a template with --var NAME=VALUE values into user-data, meta-data and,
when the template has one, network-config. Without --output-dir the files are
printed to stdout, each after a "==> NAME <==" header.

HOSTNAME is required. SSH_PUBLIC_KEY comes from --var, else from
--ssh-public-key-file, else from the first of ~/.ssh/id_ed25519.pub,
~/.ssh/id_ecdsa.pub and ~/.ssh/id_rsa.pub. A list variable (PACKAGES, RUNCMD)
takes a comma-separated list or a JSON array of strings; an empty value is an
empty list, so --var PACKAGES= installs nothing. "vmgenie template variables"
lists every variable with its rule and default.`,
		Example: `  vmgenie template render ubuntu 24.04 --var HOSTNAME=web-01 -o seed/
  vmgenie template render debian 12 --var HOSTNAME=db --var PACKAGES= --var 'RUNCMD=["touch /var/tmp/ready"]'`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeTemplateArgs(flags),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTemplateRender(a, flags, &rf, args[0], args[1])
		},
	}
	cmd.Flags().StringArrayVar(&rf.vars, "var", nil, "variable value NAME=VALUE; repeat for more variables")
	cmd.Flags().StringVar(&rf.sshKeyFile, "ssh-public-key-file", "", "file with the SSH public key, used when --var SSH_PUBLIC_KEY is not given")
	cmd.Flags().StringVarP(&rf.outputDir, "output-dir", "o", "", "directory to write the seed data files into, created if missing (default: print to stdout)")
	_ = cmd.RegisterFlagCompletionFunc("var", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, v := range template.Variables() {
			if !v.FromTemplate {
				names = append(names, v.Name+"=")
			}
		}
		return names, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func runTemplateRender(a *app, flags *templateFlags, rf *renderFlags, osName, version string) error {
	c, err := flags.catalog()
	if err != nil {
		return err
	}
	t, err := c.Lookup(osName, version)
	if err != nil {
		return err
	}

	var values template.Values
	for _, assignment := range rf.vars {
		name, value, err := template.ParseAssignment(assignment)
		if err != nil {
			return err
		}
		if err := values.Set(name, value); err != nil {
			return err
		}
	}
	if err := addSSHKey(&values, rf.sshKeyFile); err != nil {
		return err
	}

	log := a.log().With("template", t.Name(), "source", t.Source)
	log.Debug("rendering template")
	r, err := t.Render(values)
	if err != nil {
		return fmt.Errorf("render template %s failed:\n%s", t.Name(), indentProblems(err))
	}
	log.Info("template rendered", "instance_id", r.InstanceID, "hostname", r.Hostname)

	names := []string{template.UserDataFile, template.MetaDataFile, template.NetworkConfigFile}
	files := r.Files()
	if rf.outputDir == "" {
		for _, name := range names {
			if data, ok := files[name]; ok {
				if err := writeFileSection(a.stdout, name, data); err != nil {
					return err
				}
			}
		}
		return nil
	}

	if err := os.MkdirAll(rf.outputDir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	for _, name := range names {
		data, ok := files[name]
		path := filepath.Join(rf.outputDir, name)
		if !ok {
			// A network-config left from an earlier render of another
			// template would otherwise be taken for this one's.
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove stale %s: %w", path, err)
			}
			continue
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("write seed data file: %w", err)
		}
		fmt.Fprintln(a.stdout, path)
	}
	return nil
}

// addSSHKey sets SSH_PUBLIC_KEY from keyFile, or from the first default
// key file, unless --var already set it.
func addSSHKey(values *template.Values, keyFile string) error {
	if values.Has(template.VarSSHPublicKey) {
		if keyFile != "" {
			return errors.New("both --var SSH_PUBLIC_KEY and --ssh-public-key-file are given: use one")
		}
		return nil
	}
	if keyFile == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no SSH public key: give --var SSH_PUBLIC_KEY=... or --ssh-public-key-file FILE (home directory unknown: %w)", err)
		}
		var tried []string
		for _, rel := range defaultSSHKeyFiles {
			path := filepath.Join(home, rel)
			tried = append(tried, path)
			if _, err := os.Stat(path); err == nil {
				keyFile = path
				break
			}
		}
		if keyFile == "" {
			return fmt.Errorf("no SSH public key: none of %s exists; create one with ssh-keygen -t ed25519, or give --var SSH_PUBLIC_KEY=... or --ssh-public-key-file FILE", strings.Join(tried, ", "))
		}
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("read SSH public key: %w", err)
	}
	return values.Set(template.VarSSHPublicKey, string(data))
}

// indentProblems lists the problems in err, one per line and indented.
func indentProblems(err error) string {
	problems := template.Errors(err)
	if len(problems) == 0 {
		return "  " + err.Error()
	}
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = "  " + strings.ReplaceAll(p.Error(), "\n", "\n    ")
	}
	return strings.Join(lines, "\n")
}

func newTemplateValidateCommand(a *app, flags *templateFlags) *cobra.Command {
	var noSchema bool
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check templates: placeholders, rendering with sample values and the cloud-init schema",
		Long: `Check a template directory: a whole catalog (<OS>/<version>/seed-data/), one
template directory (<OS>/<version>) or one seed-data directory. Without DIR it
checks the built-in templates merged with --template-dir.

Each template is rendered with sample values, once with its default PACKAGES
and once with PACKAGES and RUNCMD empty. Every placeholder must be a known
variable in a place where a value can be inserted safely, every file must be
valid YAML, user-data must start with #cloud-config, meta-data must have
instance-id and local-hostname. When cloud-init is on PATH, each rendered
user-data must also pass "cloud-init schema". Exits 1 and lists the problems
when any are found.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), validateTimeout)
			defer cancel()
			return runTemplateValidate(ctx, a, flags, args, noSchema)
		},
	}
	cmd.Flags().BoolVar(&noSchema, "no-schema", false, "skip the cloud-init schema check")
	return cmd
}

func runTemplateValidate(ctx context.Context, a *app, flags *templateFlags, args []string, noSchema bool) error {
	var schema template.SchemaChecker
	switch {
	case noSchema:
	case cloudInitAvailable():
		schema = template.CloudInitSchema
	default:
		fmt.Fprintln(a.stderr, "note: cloud-init is not on PATH, so user-data is not checked against the cloud-init schema")
	}

	var templates []*template.Template
	var err error
	if len(args) == 1 {
		templates, err = template.ValidateDir(ctx, args[0], schema)
	} else {
		var c *template.Catalog
		c, err = flags.catalog()
		if err != nil {
			return err
		}
		templates = c.Templates()
		var errs []error
		for _, t := range templates {
			errs = append(errs, template.ValidateTemplate(ctx, t, schema))
		}
		err = errors.Join(errs...)
	}
	if err != nil {
		problems := template.Errors(err)
		if len(problems) == 0 {
			return err
		}
		for _, p := range problems {
			fmt.Fprintln(a.stdout, p.Error())
		}
		return &exitCodeError{code: 1, err: fmt.Errorf("found %s in %s", plural(len(problems), "problem"), plural(len(templates), "template"))}
	}
	tb := &table{}
	tb.header("RESULT", "NAME", "SOURCE")
	for _, t := range templates {
		tb.row("ok", t.Name(), t.Source)
	}
	return tb.write(a.stdout)
}

// plural returns "1 problem" or "2 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func cloudInitAvailable() bool {
	_, err := exec.LookPath("cloud-init")
	return err == nil
}

// variableInfo is one row of "template variables".
type variableInfo struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Required    bool   `json:"required"`
	Default     string `json:"default,omitempty"`
	Rule        string `json:"rule"`
	Description string `json:"description"`
}

func newTemplateVariablesCommand(a *app) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "variables",
		Short: "List the variables templates can use, with their rules and defaults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos := []variableInfo{}
			for _, v := range template.Variables() {
				def := v.Default
				if v.Required {
					def = "(required)"
				}
				if v.FromTemplate {
					def = "(from the template)"
				}
				infos = append(infos, variableInfo{Name: v.Name, Kind: v.KindName(), Required: v.Required, Default: def, Rule: v.Rule, Description: v.Description})
			}
			return out.print(a.stdout, infos, func(tb *table) {
				tb.header("NAME", "KIND", "DEFAULT", "RULE")
				for _, info := range infos {
					tb.row(info.Name, info.Kind, info.Default, info.Rule)
				}
			})
		},
	}
	out.register(cmd)
	return cmd
}
