package yamlcheck

import "go.yaml.in/yaml/v3"

// checkBlockHeaders checks the header of every block scalar ("|" or ">",
// then at most one chomping and one indentation indicator). PyYAML needs a
// space or a line break right after the indicators, so "|#c" is an error
// there, while yaml.v3 reads it as a comment.
func checkBlockHeaders(t *text, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.MappingNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := checkBlockHeaders(t, c); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			return nil
		}
		header, _ := t.skipProperties(t.nodeOffset(n))
		i := header + 1
		for k := 0; k < 2 && i < len(t.data); k++ {
			c := t.data[i]
			if c != '+' && c != '-' && (c < '0' || c > '9') {
				break
			}
			i++
		}
		if i < len(t.data) && t.data[i] != ' ' && breakLen(t.data, i) == 0 {
			return t.errorAt(i, "expected a space or a line break after the block scalar indicators",
				"put a space between \"|\" or \">\" and what follows")
		}
	}
	return nil
}
