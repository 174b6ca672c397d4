package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeOf(time.Duration(0))

// position is where a key's value starts in the file, 1-based.
type position struct {
	line, column int
}

// decoder walks the YAML nodes of a config file into a Config, collecting
// every problem instead of stopping at the first.
type decoder struct {
	problems []Problem
	// positions maps each dotted key found in the file to its value's position.
	positions map[string]position
	// leafPaths maps each leaf key name to the dotted keys that end with it,
	// so that a key in the wrong section gets its right place suggested.
	leafPaths map[string][]string
}

func parse(data []byte, name string, p platform) (*Config, error) {
	cfg, err := p.baseDefaults()
	if err != nil {
		return nil, err
	}
	cfg.File = name

	d := &decoder{positions: map[string]position{}, leafPaths: map[string][]string{}}
	d.indexKeys(reflect.TypeOf(*cfg), "")

	root, problem := readDocument(data)
	if problem != nil {
		return nil, &Error{File: name, Problems: []Problem{*problem}}
	}
	if root != nil {
		d.decodeStruct(root, "", reflect.ValueOf(cfg).Elem())
	}

	p.fillDerived(cfg)
	d.problems = append(d.problems, validate(cfg, p, d.positions)...)
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, &Error{File: name, Problems: d.problems}
	}
	return cfg, nil
}

// readDocument parses data into the root node of its single document. It
// returns nil for an empty file or a file that contains only comments.
func readDocument(data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		p := syntaxProblem(err)
		return nil, &p
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Problem{Line: extra.Line, Message: "the file contains more than one YAML document: keep only the first"}
	} else if !errors.Is(err, io.EOF) {
		p := syntaxProblem(err)
		return nil, &p
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// indexKeys records the leaf key names of the struct type t under prefix.
func (d *decoder) indexKeys(t reflect.Type, prefix string) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := yamlKey(f)
		if key == "" {
			continue
		}
		full := joinKey(prefix, key)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			d.indexKeys(f.Type, full)
			continue
		}
		d.leafPaths[key] = append(d.leafPaths[key], full)
	}
}

// decodeStruct decodes a mapping node into the struct v, whose dotted key
// is prefix ("" for the root).
func (d *decoder) decodeStruct(node *yaml.Node, prefix string, v reflect.Value) {
	node = resolveAlias(node)
	if isNull(node) {
		return
	}
	if node.Kind != yaml.MappingNode {
		what := "the file"
		if prefix != "" {
			what = prefix
		}
		d.addf(node, prefix, "%s must be a mapping of keys to values, found %s", what, describe(node))
		return
	}

	fields := map[string]int{}
	var names []string
	for i := range v.NumField() {
		if key := yamlKey(v.Type().Field(i)); key != "" {
			fields[key] = i
			names = append(names, key)
		}
	}

	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		keyNode, valueNode := node.Content[i], resolveAlias(node.Content[i+1])
		key := keyNode.Value
		full := joinKey(prefix, key)

		index, known := fields[key]
		if keyNode.Kind != yaml.ScalarNode || !known {
			d.add(keyNode, full, d.unknownKeyMessage(keyNode, prefix, names))
			continue
		}
		if first, dup := seen[key]; dup {
			d.addf(keyNode, full, "%s is set twice (first on line %d): keep one", full, first)
			continue
		}
		seen[key] = keyNode.Line
		d.positions[full] = position{valueNode.Line, valueNode.Column}
		d.decodeValue(valueNode, full, v.Field(index))
	}
}

// decodeValue decodes one value node into the field v.
func (d *decoder) decodeValue(node *yaml.Node, key string, v reflect.Value) {
	if v.Type() != durationType && v.Kind() == reflect.Struct {
		d.decodeStruct(node, key, v)
		return
	}
	if isNull(node) {
		// An empty value keeps the default, as if the key were absent.
		return
	}
	if node.Kind != yaml.ScalarNode {
		d.addf(node, key, "%s must be %s, found %s", key, expected(v.Type()), describe(node))
		return
	}

	switch {
	case v.Type() == durationType:
		d.decodeDuration(node, key, v)
	case v.Kind() == reflect.String:
		if node.ShortTag() != "!!str" {
			d.addf(node, key, "%s must be a string, found %s: quote it, as in %s: %q", key, describe(node), key[strings.LastIndex(key, ".")+1:], node.Value)
			return
		}
		v.SetString(node.Value)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		d.decodeInt(node, key, v)
	case v.Kind() == reflect.Bool:
		if node.ShortTag() != "!!bool" {
			d.addf(node, key, "%s must be true or false, found %s", key, describe(node))
			return
		}
		var b bool
		if err := node.Decode(&b); err != nil {
			d.addf(node, key, "%s must be true or false, found %s", key, node.Value)
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("config: field %s has unsupported type %s", key, v.Type()))
	}
}

func (d *decoder) decodeInt(node *yaml.Node, key string, v reflect.Value) {
	if node.ShortTag() != "!!int" {
		d.addf(node, key, "%s must be an integer, found %s", key, describe(node))
		return
	}
	var n int64
	if err := node.Decode(&n); err != nil {
		d.addf(node, key, "%s must be an integer between %d and %d, found %s", key, int64(math.MinInt64), int64(math.MaxInt64), node.Value)
		return
	}
	if v.OverflowInt(n) {
		d.addf(node, key, "%s is out of range: %s", key, node.Value)
		return
	}
	v.SetInt(n)
}

func (d *decoder) decodeDuration(node *yaml.Node, key string, v reflect.Value) {
	if node.ShortTag() != "!!str" {
		d.addf(node, key, "%s must be a duration with a unit, such as \"10s\" or \"5m\", found %s", key, describe(node))
		return
	}
	dur, err := time.ParseDuration(node.Value)
	if err != nil {
		d.addf(node, key, "%s: invalid duration %q: write a number with a unit (ms, s, m, h), such as \"10s\" or \"1m30s\"", key, node.Value)
		return
	}
	v.SetInt(int64(dur))
}

// unknownKeyMessage explains an unknown key and suggests the closest known
// key in the same mapping, or the section where a key of that name belongs.
func (d *decoder) unknownKeyMessage(keyNode *yaml.Node, prefix string, names []string) string {
	if keyNode.Kind != yaml.ScalarNode {
		return fmt.Sprintf("a key must be a string, found %s", describe(keyNode))
	}
	key := keyNode.Value
	full := joinKey(prefix, key)
	if key == "<<" {
		return "merge keys (<<) are not supported: write the keys out"
	}
	if paths := d.leafPaths[key]; len(paths) > 0 {
		return fmt.Sprintf("unknown key %q: did you mean %s? That key belongs in another section", full, quoteAll(paths))
	}
	msg := fmt.Sprintf("unknown key %q", full)
	if best := suggest(key, names); best != "" {
		return msg + fmt.Sprintf(": did you mean %q?", joinKey(prefix, best))
	}
	sort.Strings(names)
	return msg + ": valid keys here are " + strings.Join(names, ", ")
}

func (d *decoder) add(node *yaml.Node, key, message string) {
	d.problems = append(d.problems, Problem{Key: key, Line: node.Line, Column: node.Column, Message: message})
}

func (d *decoder) addf(node *yaml.Node, key, format string, args ...any) {
	d.add(node, key, fmt.Sprintf(format, args...))
}

// resolveAlias follows a YAML alias (*name) to the node it refers to.
func resolveAlias(node *yaml.Node) *yaml.Node {
	for node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	return node
}

func isNull(node *yaml.Node) bool {
	return node.Kind == yaml.ScalarNode && node.ShortTag() == "!!null"
}

// describe names a node's kind and value for error messages.
func describe(node *yaml.Node) string {
	switch node.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch node.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", node.Value)
		case "!!int":
			return "the integer " + node.Value
		case "!!float":
			return "the number " + node.Value
		case "!!bool":
			return "the boolean " + node.Value
		case "!!null":
			return "an empty value"
		}
		return fmt.Sprintf("%s %q", node.ShortTag(), node.Value)
	}
	return "an unexpected YAML node"
}

func expected(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as \"10s\""
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	default:
		return "an integer"
	}
}

// quoteAll formats names as "a" or "a" or "b".
func quoteAll(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	return strings.Join(quoted, " or ")
}

func yamlKey(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
