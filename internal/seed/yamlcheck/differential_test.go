package yamlcheck

import (
	"strings"
	"testing"
)

// trickyDocument is a document where yaml.v3 and PyYAML may disagree.
type trickyDocument struct {
	name string
	doc  string
	// overReject marks a document that PyYAML accepts and Check rejects,
	// a known and documented difference.
	overReject bool
}

func nested(open, close string, depth int) string {
	return strings.Repeat(open, depth) + "x" + strings.Repeat(close, depth)
}

func nestedBlockMap(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	b.WriteString(strings.Repeat(" ", depth) + "x\n")
	return b.String()
}

var trickyDocuments = []trickyDocument{
	// Tabs.
	{name: "tab after colon", doc: "a:\tb\n"},
	{name: "tab at end of value", doc: "a: b\t\n"},
	{name: "tab inside plain value", doc: "a: b\tc\n"},
	{name: "tab before comment", doc: "a: b\t# c\n"},
	{name: "tab in single quotes", doc: "a: 'b\tc'\n"},
	{name: "tab in double quotes", doc: "a: \"b\tc\"\n"},
	{name: "tab in multiline quotes", doc: "a: \"b\n\tc\"\n"},
	{name: "tab in block scalar", doc: "a: |\n  x\ty\n"},
	{name: "tab starting block content", doc: "a: |\n  \tx\n", overReject: true},
	{name: "tab as block indentation", doc: "a: |\n\tx\n"},
	{name: "tab in folded scalar", doc: "a: >\n  x\ty\n\n  z\t\n"},
	{name: "tab after block header", doc: "a: |\t\n  x\n"},
	{name: "tab in comment", doc: "a: 1 # x\ty\n"},
	{name: "tab in full-line comment", doc: "# x\ty\na: 1\n"},
	{name: "tab before full-line comment", doc: "\t# c\na: 1\n"},
	{name: "tab in flow sequence", doc: "[a,\tb]\n"},
	{name: "tab in flow mapping", doc: "{a: 1,\tb: 2}\n"},
	{name: "tab after dash", doc: "- \ta\n"},
	{name: "tab-only line", doc: "a: 1\n\t\n"},
	{name: "tab continuing plain", doc: "a: foo\n\tbar\n"},
	{name: "tab indenting key", doc: "a:\n  b: 1\n  \tc: 2\n"},
	{name: "tab in nested block scalar", doc: "a:\n  b: |\n    x\ty\n  c: 1\n"},
	{name: "tab after empty block scalar", doc: "a:\n  b: |\n  c:\t1\n"},
	{name: "tab with indent indicator", doc: "a: |2\n   \tx\n"},
	{name: "tab in sequence block scalar", doc: "- |\n  a\tb\n- c\n"},
	{name: "tab after quoted key", doc: "\"a\":\tb\n"},
	{name: "tab after anchor", doc: "a: &x\tb\n"},
	{name: "tab in key", doc: "a\tb: c\n"},
	{name: "tab after document start", doc: "---\ta: 1\n"},
	{name: "tab in write_files content", doc: "write_files:\n- path: /etc/x\n  content: |\n    [s]\n    \tk=v\n"},

	// Characters outside PyYAML's printable set.
	{name: "control character", doc: "a: \x01\n"},
	{name: "DEL", doc: "a: \x7f\n"},
	{name: "C1 control", doc: "a: \u0080\n"},
	{name: "NEL inside value", doc: "a: \u0085b\n"},
	{name: "BOM inside value", doc: "a: \ufeffb\n"},
	{name: "control in comment", doc: "# \x08\na: 1\n"},
	{name: "control in quotes", doc: "a: \"\x7f\"\n"},
	{name: "noncharacter FFFF", doc: "a: \uffff\n"},
	{name: "noncharacter FFFE", doc: "a: \ufffe\n"},
	{name: "escaped control", doc: "a: \"\\x07\"\n"},
	{name: "emoji", doc: "a: \U0001F600\n"},
	{name: "leading BOM", doc: "\ufeffa: 1\n"},

	// Directives.
	{name: "YAML 1.1 directive", doc: "%YAML 1.1\n---\na: 1\n"},
	{name: "YAML 1.2 directive", doc: "%YAML 1.2\n---\na: 1\n"},
	{name: "YAML 1.3 directive", doc: "%YAML 1.3\n---\na: 1\n"},
	{name: "YAML 2.0 directive", doc: "%YAML 2.0\n---\na: 1\n"},
	{name: "YAML directive twice", doc: "%YAML 1.1\n%YAML 1.1\n---\na: 1\n"},
	{name: "YAML directive no start", doc: "%YAML 1.1\na: 1\n"},
	{name: "YAML directive bad version", doc: "%YAML 1\n---\na: 1\n"},
	{name: "YAML directive comment", doc: "%YAML 1.2 # c\n---\na: 1\n"},
	{name: "reserved directive", doc: "%FOO bar\n---\na: 1\n"},
	{name: "reserved directive no start", doc: "%FOO bar\na: 1\n"},
	{name: "TAG directive", doc: "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n"},
	{name: "TAG directive twice", doc: "%TAG !e! tag:a:\n%TAG !e! tag:b:\n---\na: 1\n"},
	{name: "TAG redefines !!", doc: "%TAG !! tag:example.com,2000:\n---\na: !!str x\n"},

	// Documents.
	{name: "two documents", doc: "a: 1\n---\nb: 2\n"},
	{name: "empty second document", doc: "a: 1\n---\n"},
	{name: "broken second document", doc: "a: 1\n---\n]\n"},
	{name: "document end marker", doc: "a: 1\n...\n"},
	{name: "end then start", doc: "a: 1\n...\n---\nb: 1\n"},
	{name: "explicit start", doc: "--- a\n"},
	{name: "empty stream", doc: ""},
	{name: "comment only", doc: "#cloud-config\n"},
	{name: "scalar document", doc: "a"},

	// Anchors and aliases.
	{name: "duplicate anchor", doc: "a: &x 1\nb: &x 2\n"},
	{name: "duplicate anchor nested", doc: "a: &x\n  b: &x 1\n"},
	{name: "duplicate anchor on merge", doc: "a: &x {b: 1}\nc:\n  <<: &x {d: 1}\n"},
	{name: "undefined alias", doc: "a: *x\n"},
	{name: "recursive alias", doc: "a: &x [*x]\n"},
	{name: "anchor on alias", doc: "a: &x *y\n"},
	{name: "alias as key", doc: "a: &k b\n*k : c\n"},
	{name: "alias to mapping as key", doc: "a: &m {b: 1}\n? *m\n: c\n"},
	{name: "anchor with dot", doc: "a: &x.y 1\n"},
	{name: "anchor with colon", doc: "a: &x:y 1\n"},

	// Merge keys.
	{name: "merge scalar", doc: "<<: 1\n"},
	{name: "merge list of scalars", doc: "<<: [1]\n"},
	{name: "merge mapping", doc: "<<: {a: 1}\n"},
	{name: "merge alias", doc: "a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n"},
	{name: "merge list of aliases", doc: "a: &x {b: 1}\nb: &y {c: 1}\nc:\n  <<: [*x, *y]\n"},
	{name: "merge alias to list", doc: "a: &x [1]\nc:\n  <<: *x\n"},
	{name: "merge alias to scalar", doc: "a: &x 1\nc:\n  <<: *x\n"},
	{name: "merge with tagged mapping", doc: "<<: !foo {a: 1}\n"},
	{name: "merge nested bad", doc: "<<: {<<: 1}\n"},
	{name: "quoted merge key", doc: "'<<': 1\n"},
	{name: "merge as value", doc: "a: <<\n"},
	{name: "merge as item", doc: "- <<\n"},
	{name: "equals as value", doc: "a: =\n"},
	{name: "equals as key", doc: "=: 1\n"},
	{name: "equals as item", doc: "- =\n"},
	{name: "equals quoted", doc: "a: '='\n"},

	// Tags.
	{name: "python object tag", doc: "a: !!python/object:os.system x\n"},
	{name: "python unicode tag", doc: "a: !!python/unicode x\n"},
	{name: "local tag", doc: "a: !foo x\n"},
	{name: "non-specific tag", doc: "a: ! x\n"},
	{name: "non-specific quoted date", doc: "a: ! \"2023-02-30\"\n"},
	{name: "non-specific quoted bool nl", doc: "a: ! \"yes\\n\"\n"},
	{name: "verbatim str tag", doc: "a: !<tag:yaml.org,2002:str> x\n"},
	{name: "verbatim unknown tag", doc: "a: !<tag:example.com:x> x\n"},
	{name: "int tag bad", doc: "a: !!int x\n"},
	{name: "int tag empty", doc: "a: !!int ''\n"},
	{name: "int tag sign only", doc: "a: !!int '-'\n"},
	{name: "int tag octal prefix", doc: "a: !!int 0o7\n"},
	{name: "int tag binary twice", doc: "a: !!int 0b0b1\n"},
	{name: "int tag spaces", doc: "a: !!int ' 12 '\n"},
	{name: "int tag sexagesimal", doc: "a: !!int 1:30\n"},
	{name: "int tag bad octal", doc: "a: !!int 09\n"},
	{name: "float tag hex", doc: "a: !!float 0x10\n"},
	{name: "float tag exponent", doc: "a: !!float 1e5\n"},
	{name: "float tag inf word", doc: "a: !!float infinity\n"},
	{name: "float tag bad", doc: "a: !!float abc\n"},
	{name: "float tag empty", doc: "a: !!float ''\n"},
	{name: "bool tag bad", doc: "a: !!bool maybe\n"},
	{name: "bool tag on", doc: "a: !!bool On\n"},
	{name: "null tag value", doc: "a: !!null x\n"},
	{name: "null tag on list", doc: "a: !!null [x]\n"},
	{name: "str tag on list", doc: "a: !!str [a]\n"},
	{name: "map tag on list", doc: "a: !!map [a]\n"},
	{name: "seq tag on map", doc: "a: !!seq {a: 1}\n"},
	{name: "set tag on list", doc: "a: !!set [a]\n"},
	{name: "set tag", doc: "a: !!set {x, y}\n"},
	{name: "omap tag", doc: "a: !!omap [b: 1, c: 2]\n"},
	{name: "omap tag scalar item", doc: "a: !!omap [a]\n"},
	{name: "omap tag two entries", doc: "a: !!omap [{b: 1, c: 2}]\n"},
	{name: "omap tag equals key", doc: "a: !!omap [=: 1]\n"},
	{name: "pairs tag on map", doc: "a: !!pairs {b: 1}\n"},
	{name: "timestamp tag bad", doc: "a: !!timestamp foo\n"},
	{name: "timestamp tag short date", doc: "a: !!timestamp 2023-2-3\n"},
	{name: "binary tag good", doc: "a: !!binary aGVsbG8=\n"},
	{name: "binary tag junk", doc: "a: !!binary '!!!'\n"},
	{name: "binary tag bad padding", doc: "a: !!binary YQ=\n"},
	{name: "binary tag no padding", doc: "a: !!binary YQ\n"},
	{name: "binary tag one extra", doc: "a: !!binary YWJjZ\n"},
	{name: "binary tag non-ascii", doc: "a: !!binary \"é\"\n"},
	{name: "binary tag multiline", doc: "a: !!binary |\n  aGVs\n  bG8=\n"},

	// Implicit types.
	{name: "invalid date", doc: "a: 2023-02-30\n"},
	{name: "valid date", doc: "a: 2023-02-28\n"},
	{name: "leap day", doc: "a: 2024-02-29\n"},
	{name: "not leap day", doc: "a: 2023-02-29\n"},
	{name: "month 13", doc: "a: 2023-13-01\n"},
	{name: "year zero", doc: "a: 0000-01-01\n"},
	{name: "hour 25", doc: "a: 2023-2-3 25:00:00\n"},
	{name: "second 60", doc: "a: 2023-02-03t10:00:60\n"},
	{name: "offset 24h", doc: "a: 2001-12-14 21:59:43.10 +24:00\n"},
	{name: "offset 23:99", doc: "a: 2001-12-14 21:59:43 +23:99\n"},
	{name: "timestamp tab separated", doc: "a: \"2001-12-14\t21:59:43\"\n"},
	{name: "date as key", doc: "2023-02-30: a\n"},
	{name: "date in list", doc: "- 2023-02-30\n"},
	{name: "quoted invalid date", doc: "a: '2023-02-30'\n"},
	{name: "binary underscore", doc: "a: 0b_\n"},
	{name: "hex underscore", doc: "a: 0x_\n"},
	{name: "signed hex underscore", doc: "a: -0x__\n"},
	{name: "octal underscore", doc: "a: 0_\n"},
	{name: "sexagesimal", doc: "a: 1:30\n"},
	{name: "sexagesimal float", doc: "a: 1:30.5\n"},
	{name: "float underscore", doc: "a: 1_000.5\n"},
	{name: "dot inf", doc: "a: -.inf\n"},
	{name: "yes no", doc: "a: yes\nb: No\n"},
	{name: "tilde", doc: "a: ~\n"},

	// Keys.
	{name: "flow sequence key", doc: "[a]: b\n"},
	{name: "flow mapping key", doc: "{a: 1}: b\n"},
	{name: "complex sequence key", doc: "? [a]\n: b\n"},
	{name: "complex scalar key", doc: "? a\n: b\n"},
	{name: "mapping as key", doc: "? a: b\n"},
	{name: "duplicate keys", doc: "a: 1\na: 2\n"},
	{name: "null key", doc: "~: 1\n"},
	{name: "long key", doc: strings.Repeat("k", 1100) + ": v\n"},
	{name: "key of 1000 wide chars", doc: strings.Repeat("é", 1000) + ": v\n"},
	{name: "multiline quoted key", doc: "\"a\nb\": c\n"},

	// Escapes.
	{name: "escaped slash", doc: "a: \"\\/\"\n", overReject: true},
	{name: "escape past unicode", doc: "a: \"\\U00110000\"\n"},
	{name: "escaped surrogate", doc: "a: \"\\ud800\"\n", overReject: true},
	{name: "escaped tab char", doc: "a: \"\\\t\"\n"},
	{name: "unknown escape", doc: "a: \"\\q\"\n"},
	{name: "escaped single quote", doc: "a: \"\\'\"\n"},
	{name: "escaped line break", doc: "a: \"x\\\n  y\"\n"},
	{name: "block header comment", doc: "a: |#c\n  x\n"},

	// Flow and indicators.
	{name: "colon starting flow item", doc: "[:a]\n"},
	{name: "adjacent flow colon", doc: "{a:b}\n"},
	{name: "flow pair", doc: "[a: b]\n"},
	{name: "flow pair value colon", doc: "[a: b:]\n"},
	{name: "flow mapping value colon", doc: "{a: b:}\n"},
	{name: "flow key colon", doc: "[a:]\n"},
	{name: "flow key colon comma", doc: "[a:, b]\n"},
	{name: "flow key colon bad date", doc: "[2023-02-30:]\n"},
	{name: "flow key colon merge", doc: "[<<:]\n"},
	{name: "flow key colon hex", doc: "[0x_:]\n"},
	{name: "flow colon next line", doc: "[0\n:]\n"},
	{name: "flow key on two lines", doc: "{a\nb: c}\n"},
	{name: "flow quoted key colon next line", doc: "{\"a\"\n: c}\n"},
	{name: "flow explicit key", doc: "{? a\n: c}\n"},
	{name: "flow json key", doc: "{\"a\":1, \"b\": [1,2]}\n"},
	{name: "flow multiline value", doc: "{a: b\n  c, d: e}\n"},
	{name: "colon starting item", doc: "- :a\n"},
	{name: "dash value", doc: "a: -b\n"},
	{name: "colon key", doc: ":a: b\n"},
	{name: "url in flow", doc: "[http://x/y]\n"},
	{name: "comment after flow comma", doc: "[a,#c\n b]\n"},
	{name: "tab in comment after comma", doc: "[a,#c\td\n b]\n", overReject: true},
	{name: "at sign", doc: "a: @x\n"},
	{name: "backtick", doc: "a: `x\n"},
	{name: "percent value", doc: "a: %x\n"},
	{name: "percent at column 0", doc: "a: b\n%c\n"},

	// Structure.
	{name: "document marker in quotes", doc: "a: \"\n---\nb\"\n"},
	{name: "indent indicator zero", doc: "a: |0\n x\n"},
	{name: "indentless sequence", doc: "a:\n- b\n - c\n"},
	{name: "value after value", doc: "a: b: c\n"},
	{name: "bad indentation", doc: "a: 1\n b: 2\n"},
	{name: "unclosed quote", doc: "a: 'x\n"},
	{name: "unclosed bracket", doc: "a: [1, 2\nb: 3\n"},
	{name: "list then key", doc: "- a\nb: 1\n"},
	{name: "cloud-config", doc: "#cloud-config\npackages: [curl]\nruncmd:\n  - [sh, -c, 'echo hi']\nwrite_files:\n  - path: /etc/x\n    content: |\n      a\tb\n"},

	// Depth.
	{name: "flow depth 300", doc: nested("[", "]", 300)},
	{name: "flow depth 401", doc: nested("[", "]", 401), overReject: true},
	{name: "flow depth 600", doc: nested("[", "]", 600)},
	{name: "block depth 600", doc: nestedBlockMap(600)},
	{name: "mapping depth 600", doc: nested("{a: ", "}", 600)},
}

// TestCheckMatchesPyYAML runs every tricky document through PyYAML (as
// cloud-init loads it) and through Check. Check must reject what PyYAML
// rejects, and accept what it accepts except for the documented
// over-rejections.
func TestCheckMatchesPyYAML(t *testing.T) {
	o := needOracle(t)
	for _, tc := range trickyDocuments {
		t.Run(tc.name, func(t *testing.T) {
			py := o.load(t, []byte(tc.doc))
			_, err := Check([]byte(tc.doc))
			switch {
			case !py.OK && err == nil:
				t.Errorf("PyYAML rejects %q (line %d, column %d: %s) but Check accepts it", tc.doc, py.Line, py.Column, py.Problem)
			case py.OK && err != nil && !tc.overReject:
				t.Errorf("PyYAML accepts %q but Check rejects it: %v", tc.doc, err)
			case py.OK && err == nil && tc.overReject:
				t.Errorf("%q is marked as over-rejected, but Check accepts it", tc.doc)
			}
			if !py.OK && err != nil {
				t.Logf("PyYAML: %d:%d %s | Check: %v", py.Line, py.Column, py.Problem, err)
			}
		})
	}
}

// FuzzCheckMatchesPyYAML checks that Check rejects every document PyYAML
// rejects. Normal test runs check the seed corpus, the tricky documents
// above; "go test -fuzz FuzzCheckMatchesPyYAML" explores further.
func FuzzCheckMatchesPyYAML(f *testing.F) {
	for _, tc := range trickyDocuments {
		if len(tc.doc) < 4096 {
			f.Add([]byte(tc.doc))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		o := needOracle(t)
		py := o.load(t, doc)
		_, err := Check(doc)
		if !py.OK && err == nil {
			t.Errorf("PyYAML rejects %q (line %d, column %d: %s) but Check accepts it", doc, py.Line, py.Column, py.Problem)
		}
	})
}
