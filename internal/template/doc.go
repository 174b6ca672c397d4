// Package template loads the catalog of OS templates, checks the variables
// given for one VM and renders a template into NoCloud seed data
// (user-data, meta-data and, where the template has one, network-config).
//
// A template is a directory <OS>/<version>/seed-data/ holding YAML files
// with placeholders written {{ NAME }}. The default catalog is embedded from
// etc/cloud; a directory on disk with the same layout adds templates or
// overrides embedded ones.
//
// We do not use text/template or another general template engine, because
// those paste values into the output as raw text. A hostname or a package
// name containing a newline, a quote or ": " could then add keys, list items
// or whole lines to the cloud-config. This renderer instead classifies the
// YAML position of every placeholder before it substitutes anything:
//
//   - a placeholder that is a whole scalar (a mapping value, a block
//     sequence item or a flow collection element) becomes a double-quoted
//     YAML string with JSON-style escapes;
//   - a list variable in those positions becomes a flow sequence of
//     double-quoted strings, or one block sequence item per element when it
//     is the whole item ("- {{ PACKAGES }}"); an empty list drops a
//     "key: {{ LIST }}" line entirely;
//   - a placeholder inside a double- or single-quoted scalar is escaped for
//     that quote style;
//   - a placeholder anywhere else (a key, a plain scalar, a block scalar, a
//     comment) is a template error.
//
// Every inserted value is therefore exactly one YAML scalar or one sequence
// of scalars, whatever it contains. The tests check this with a YAML parser
// and with PyYAML, the parser that cloud-init uses.
package template
