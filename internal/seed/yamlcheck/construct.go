package yamlcheck

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Long forms of the tags that PyYAML's SafeConstructor has constructors for, plus
// python/unicode, which cloud-init's loader adds.
const (
	tagPrefix    = "tag:yaml.org,2002:"
	tagNull      = tagPrefix + "null"
	tagBool      = tagPrefix + "bool"
	tagInt       = tagPrefix + "int"
	tagFloat     = tagPrefix + "float"
	tagBinary    = tagPrefix + "binary"
	tagTimestamp = tagPrefix + "timestamp"
	tagOmap      = tagPrefix + "omap"
	tagPairs     = tagPrefix + "pairs"
	tagSet       = tagPrefix + "set"
	tagStr       = tagPrefix + "str"
	tagSeq       = tagPrefix + "seq"
	tagMap       = tagPrefix + "map"
	tagUnicode   = tagPrefix + "python/unicode"
	// tagMerge and tagValue are what PyYAML resolves plain "<<" and "=" to.
	// SafeConstructor has no constructor for either: "<<" works only as a
	// mapping key and "=" only as a mapping key (read as a string).
	tagMerge = tagPrefix + "merge"
	tagValue = tagPrefix + "value"
)

// constructor repeats the checks that PyYAML's composer and SafeConstructor
// make while they build Python objects from the node graph.
type constructor struct {
	text     *text
	anchors  map[string]*yaml.Node
	warnings []Warning
}

func (c *constructor) check(root *yaml.Node) error {
	return c.node(root, 1, false)
}

func (c *constructor) errorAt(n *yaml.Node, problem, hint string) *Error {
	return &Error{Line: n.Line, Column: n.Column, Problem: problem, Hint: hint}
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// tagOf returns the long form of the tag PyYAML gives n. Untagged nodes, and
// nodes with the non-specific tag "!", get PyYAML's implicit resolution,
// which applies YAML 1.1 rules to the value of a scalar even when quoted
// under "!".
func (c *constructor) tagOf(n *yaml.Node) string {
	_, raw := c.text.skipProperties(c.text.nodeOffset(n))
	if raw != "" && raw != "!" {
		return longTag(n.Tag)
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return tagSeq
	case yaml.MappingNode:
		return tagMap
	}
	plain := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
	if plain || raw == "!" {
		return implicitTag(n.Value)
	}
	return tagStr
}

func longTag(tag string) string {
	if rest, ok := strings.CutPrefix(tag, "!!"); ok {
		return tagPrefix + rest
	}
	return tag
}

func shortTag(tag string) string {
	if rest, ok := strings.CutPrefix(tag, tagPrefix); ok {
		return "!!" + rest
	}
	return tag
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return "scalar"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	}
	return "node"
}

// node checks n and everything below it. depth counts the collections from
// the root down to n. mappingKey is true when n is a key that
// SafeConstructor's construct_mapping builds, where "=" reads as a string.
func (c *constructor) node(n *yaml.Node, depth int, mappingKey bool) error {
	if n.Kind == yaml.AliasNode {
		return nil
	}
	if n.Anchor != "" {
		if first, ok := c.anchors[n.Anchor]; ok {
			return c.errorAt(n, fmt.Sprintf("found duplicate anchor %q; first occurrence at line %d, column %d", n.Anchor, first.Line, first.Column),
				"give each anchor its own name")
		}
		c.anchors[n.Anchor] = n
	}
	if (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && depth > MaxDepth {
		return c.errorAt(n, fmt.Sprintf("collections are nested more than %d levels deep, which makes PyYAML fail with RecursionError", MaxDepth),
			"flatten the structure")
	}

	tag := c.tagOf(n)
	if tag == tagValue && mappingKey {
		tag = tagStr
	}
	if err := c.construct(n, tag, depth); err != nil {
		return err
	}
	return nil
}

// construct checks that SafeConstructor can build n with the given tag.
func (c *constructor) construct(n *yaml.Node, tag string, depth int) error {
	switch tag {
	case tagNull, tagStr, tagUnicode:
		return c.expectScalar(n, tag)
	case tagBool:
		if err := c.expectScalar(n, tag); err != nil {
			return err
		}
		switch strings.ToLower(n.Value) {
		case "yes", "no", "true", "false", "on", "off":
			return nil
		}
		return c.errorAt(n, fmt.Sprintf("invalid !!bool value %q", n.Value), "use true or false")
	case tagInt:
		if err := c.expectScalar(n, tag); err != nil {
			return err
		}
		if problem := checkInt(n.Value); problem != "" {
			return c.errorAt(n, problem, "quote the value to make it a string, or write a valid integer")
		}
	case tagFloat:
		if err := c.expectScalar(n, tag); err != nil {
			return err
		}
		if problem := checkFloat(n.Value); problem != "" {
			return c.errorAt(n, problem, "write a decimal number such as 1.5 or 1e3")
		}
	case tagBinary:
		if err := c.expectScalar(n, tag); err != nil {
			return err
		}
		if problem := checkBinary(n.Value); problem != "" {
			return c.errorAt(n, problem, "write the data as valid base64")
		}
	case tagTimestamp:
		if err := c.expectScalar(n, tag); err != nil {
			return err
		}
		if problem := checkTimestamp(n.Value); problem != "" {
			return c.errorAt(n, problem, "quote the value to make it a string, or write a valid date as YYYY-MM-DD")
		}
	case tagSeq:
		if n.Kind != yaml.SequenceNode {
			return c.errorAt(n, "expected a sequence node, but found "+kindName(n), "remove the !!seq tag")
		}
		return c.items(n, depth)
	case tagOmap, tagPairs:
		return c.pairs(n, tag, depth)
	case tagMap, tagSet:
		if n.Kind != yaml.MappingNode {
			return c.errorAt(n, "expected a mapping node, but found "+kindName(n), "remove the "+shortTag(tag)+" tag")
		}
		return c.mapping(n, depth)
	case tagMerge, tagValue:
		return c.errorAt(n, fmt.Sprintf("could not determine a constructor for the tag %q", tag),
			fmt.Sprintf("quote the value (%q) to make it a string", n.Value))
	default:
		return c.errorAt(n, fmt.Sprintf("could not determine a constructor for the tag %q", tag),
			"remove the tag; cloud-init's YAML loader knows only the standard tags such as !!str, !!int and !!binary")
	}
	return nil
}

func (c *constructor) expectScalar(n *yaml.Node, tag string) error {
	if n.Kind != yaml.ScalarNode {
		return c.errorAt(n, "expected a scalar node, but found "+kindName(n), "remove the "+shortTag(tag)+" tag")
	}
	return nil
}

func (c *constructor) items(n *yaml.Node, depth int) error {
	for _, item := range n.Content {
		if err := c.node(item, depth+1, false); err != nil {
			return err
		}
	}
	return nil
}

// pairs checks !!omap and !!pairs: a sequence of one-entry mappings whose
// keys and values are built one by one, so "=" and "<<" keys fail there.
func (c *constructor) pairs(n *yaml.Node, tag string, depth int) error {
	if n.Kind != yaml.SequenceNode {
		return c.errorAt(n, "expected a sequence for "+shortTag(tag)+", but found "+kindName(n), "write a list of one-entry mappings")
	}
	for _, item := range n.Content {
		entry := resolve(item)
		if entry.Kind != yaml.MappingNode {
			return c.errorAt(item, "expected a mapping of length 1 in "+shortTag(tag)+", but found "+kindName(entry), "write each item as \"- key: value\"")
		}
		if len(entry.Content) != 2 {
			return c.errorAt(item, fmt.Sprintf("expected a single mapping item in %s, but found %d items", shortTag(tag), len(entry.Content)/2),
				"write each item as \"- key: value\"")
		}
		if item.Kind == yaml.AliasNode {
			continue
		}
		if err := c.anchorOnly(item); err != nil {
			return err
		}
		for _, kv := range entry.Content {
			if err := c.node(kv, depth+2, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// anchorOnly registers the anchor of a node whose own tag is never
// constructed.
func (c *constructor) anchorOnly(n *yaml.Node) error {
	if n.Anchor == "" {
		return nil
	}
	if first, ok := c.anchors[n.Anchor]; ok {
		return c.errorAt(n, fmt.Sprintf("found duplicate anchor %q; first occurrence at line %d, column %d", n.Anchor, first.Line, first.Column),
			"give each anchor its own name")
	}
	c.anchors[n.Anchor] = n
	return nil
}

// mapping checks a mapping the way construct_mapping builds it: merge keys
// first, then every key must be hashable (a scalar in YAML terms).
func (c *constructor) mapping(n *yaml.Node, depth int) error {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.AliasNode && c.tagOf(key) == tagMerge {
			if err := c.anchorOnly(key); err != nil {
				return err
			}
			if err := c.merge(value, depth); err != nil {
				return err
			}
			continue
		}
		if k := resolve(key); k.Kind != yaml.ScalarNode {
			return c.errorAt(key, "found unhashable key: a "+kindName(k)+" cannot be a mapping key in Python",
				"use a string as the key")
		}
		if err := c.node(key, depth+1, true); err != nil {
			return err
		}
		if err := c.node(value, depth+1, false); err != nil {
			return err
		}
		c.noteDuplicate(seen, key)
	}
	return nil
}

// merge checks the value of a "<<" key: a mapping, or a sequence of
// mappings, possibly through aliases. Their tags are never constructed, only
// their entries.
func (c *constructor) merge(value *yaml.Node, depth int) error {
	v := resolve(value)
	switch v.Kind {
	case yaml.MappingNode:
		if value.Kind == yaml.AliasNode {
			return nil
		}
		if err := c.anchorOnly(value); err != nil {
			return err
		}
		return c.mapping(value, depth+1)
	case yaml.SequenceNode:
		if value.Kind != yaml.AliasNode {
			if err := c.anchorOnly(value); err != nil {
				return err
			}
		}
		for _, item := range v.Content {
			if resolve(item).Kind != yaml.MappingNode {
				return c.errorAt(item, "expected a mapping for merging, but found "+kindName(resolve(item)),
					"list only mappings (or aliases of mappings) after <<")
			}
			if item.Kind == yaml.AliasNode || value.Kind == yaml.AliasNode {
				continue
			}
			if err := c.anchorOnly(item); err != nil {
				return err
			}
			if err := c.mapping(item, depth+2); err != nil {
				return err
			}
		}
		return nil
	}
	return c.errorAt(value, "expected a mapping or list of mappings for merging, but found "+kindName(v),
		"put a mapping or an alias of one after <<, or quote \"<<\" to use it as a plain key")
}

// noteDuplicate warns about a key that appears twice in one mapping.
func (c *constructor) noteDuplicate(seen map[string]*yaml.Node, key *yaml.Node) {
	k := resolve(key)
	id := c.tagOf(k) + "\x00" + k.Value
	if first, ok := seen[id]; ok {
		c.warnings = append(c.warnings, Warning{
			Line:   key.Line,
			Column: key.Column,
			Message: fmt.Sprintf("duplicate key %q (first at line %d); cloud-init keeps the last value",
				k.Value, first.Line),
		})
		return
	}
	seen[id] = key
}
