package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// outputFlag is the -o/--output flag that every listing or describing command
// takes: "table" for people, "json" for scripts.
type outputFlag struct {
	format string
}

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
}

// print writes value as indented JSON, or as the table that fill builds.
func (o *outputFlag) print(w io.Writer, value any, fill func(*table)) error {
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(value)
	case "table", "":
		t := &table{}
		fill(t)
		return t.write(w)
	default:
		return fmt.Errorf("invalid --output %q: use table or json", o.format)
	}
}

// table collects rows and writes them aligned in columns.
type table struct {
	rows [][]string
}

func (t *table) header(cells ...string) { t.rows = append(t.rows, cells) }
func (t *table) row(cells ...string)    { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range t.rows {
		if _, err := fmt.Fprintln(tw, strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}
