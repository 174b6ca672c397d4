package seed

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vmgenie/vmgenie/internal/seed/yamlcheck"
)

// NewInstanceID returns a fresh instance-id: "iid-" and 16 random hex
// digits. cloud-init runs its per-instance modules again whenever the
// instance-id changes.
func NewInstanceID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate instance-id: %w", err)
	}
	return "iid-" + hex.EncodeToString(b[:]), nil
}

// ValidateHostname checks that name is a valid host name: one or more
// RFC 1123 labels (letters, digits and hyphens, 1 to 63 characters, no
// hyphen at either end) joined by dots, at most 253 characters in all.
func ValidateHostname(name string) error {
	if name == "" {
		return fmt.Errorf("invalid hostname: it is empty")
	}
	if len(name) > 253 {
		return fmt.Errorf("invalid hostname %q: it has %d characters, more than 253", name, len(name))
	}
	for _, label := range strings.Split(name, ".") {
		if err := validateLabel(label); err != nil {
			return fmt.Errorf("invalid hostname %q: %w", name, err)
		}
	}
	return nil
}

func validateLabel(label string) error {
	switch {
	case label == "":
		return fmt.Errorf("it has an empty label (two dots in a row, or a dot at either end)")
	case len(label) > 63:
		return fmt.Errorf("label %q has %d characters, more than 63", label, len(label))
	case label[0] == '-' || label[len(label)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", label)
	}
	for _, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("label %q contains %q; use only letters, digits and hyphens", label, r)
		}
	}
	return nil
}

// defaultHostname derives a hostname from an instance-id, so that seeds
// built without a hostname do not all name their guests alike.
func defaultHostname(instanceID string) string {
	var digits strings.Builder
	for _, r := range strings.ToLower(instanceID) {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'f' {
			digits.WriteRune(r)
		}
	}
	suffix := digits.String()
	if len(suffix) > 8 {
		suffix = suffix[len(suffix)-8:]
	}
	if suffix == "" {
		return "vm"
	}
	return "vm-" + suffix
}

// generateMetaData writes the meta-data for spec without a meta-data file.
func (b *builder) generateMetaData() (data []byte, instanceID, hostname string, err error) {
	instanceID = b.spec.InstanceID
	if instanceID == "" {
		if instanceID, err = NewInstanceID(); err != nil {
			return nil, "", "", err
		}
	} else if err := validateInstanceID(instanceID); err != nil {
		return nil, "", "", err
	}
	hostname = b.spec.Hostname
	if hostname == "" {
		hostname = defaultHostname(instanceID)
	}
	if err := ValidateHostname(hostname); err != nil {
		return nil, "", "", err
	}
	data = []byte("instance-id: " + instanceID + "\nlocal-hostname: " + hostname + "\n")
	return data, instanceID, hostname, nil
}

// validateInstanceID accepts the characters that are safe as a plain YAML
// scalar and in a file name, since cloud-init names a directory after the
// instance-id.
func validateInstanceID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("invalid instance-id %q: it must have 1 to 128 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("invalid instance-id %q: it contains %q; use letters, digits, '-', '_' and '.'", id, r)
		}
	}
	if id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("invalid instance-id %q: it must start with a letter, digit or '_'", id)
	}
	return nil
}

// checkMetaData checks a given meta-data document: YAML (or JSON) that
// loads as a mapping with an instance-id, as cloud-init's NoCloud data
// source reads it.
func (b *builder) checkMetaData(src Source) (data []byte, instanceID, hostname string, err error) {
	data = src.Data
	if bytes.HasPrefix(data, utf8BOM) {
		data = data[len(utf8BOM):]
		b.warn(src.Name, 0, "removed the UTF-8 byte-order mark at the start")
	}
	if err := checkUTF8(src.Name, data); err != nil {
		return nil, "", "", err
	}
	result, err := yamlcheck.Check(data)
	if err != nil {
		return nil, "", "", yamlInputError(src.Name, err)
	}
	for _, w := range result.Warnings {
		b.warn(src.Name, w.Line, w.Message)
	}
	root := result.Root
	fix := "add a line \"instance-id: iid-<unique value>\", such as the output of \"vmgenie seed create\" without --meta-data"
	if root == nil || isNull(root) {
		return nil, "", "", &InputError{Source: src.Name, Problem: "meta-data is empty and has no instance-id", Hint: fix}
	}
	if root.Kind != yaml.MappingNode {
		return nil, "", "", &InputError{Source: src.Name, Line: root.Line, Column: root.Column,
			Problem: "meta-data must be a mapping of keys to values, not a " + nodeKind(root), Hint: fix}
	}

	id := mappingValue(root, "instance-id")
	if id == nil {
		return nil, "", "", &InputError{Source: src.Name, Problem: "meta-data has no instance-id", Hint: fix}
	}
	if id.Kind != yaml.ScalarNode || isNull(id) || strings.TrimSpace(id.Value) == "" {
		return nil, "", "", &InputError{Source: src.Name, Line: id.Line, Column: id.Column,
			Problem: "meta-data instance-id is empty or not a single value", Hint: "set it to a unique string such as iid-0123456789abcdef"}
	}
	instanceID = id.Value

	if host := mappingValue(root, "local-hostname"); host != nil && host.Kind == yaml.ScalarNode && !isNull(host) {
		hostname = host.Value
		if err := ValidateHostname(hostname); err != nil {
			return nil, "", "", &InputError{Source: src.Name, Line: host.Line, Column: host.Column,
				Problem: "meta-data local-hostname: " + err.Error(), Hint: "use a name of letters, digits, hyphens and dots", Err: err}
		}
	}
	switch {
	case b.spec.Hostname != "" && hostname == "":
		return nil, "", "", &InputError{Source: src.Name,
			Problem: fmt.Sprintf("the hostname %q cannot be added to a given meta-data file", b.spec.Hostname),
			Hint:    fmt.Sprintf("add the line \"local-hostname: %s\" to the file, or leave out the hostname", b.spec.Hostname)}
	case b.spec.Hostname != "" && hostname != b.spec.Hostname:
		return nil, "", "", &InputError{Source: src.Name,
			Problem: fmt.Sprintf("the hostname %q differs from local-hostname %q in meta-data", b.spec.Hostname, hostname),
			Hint:    "give the same name in both, or leave out the hostname"}
	case hostname == "":
		b.warn(src.Name, 0, "meta-data has no local-hostname, so the guest keeps the hostname of its image")
	}
	return data, instanceID, hostname, nil
}

// mappingValue returns the value of a plain string key in a YAML mapping.
func mappingValue(mapping *yaml.Node, key string) *yaml.Node {
	var found *yaml.Node
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if k := mapping.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			found = mapping.Content[i+1]
		}
	}
	if found != nil && found.Kind == yaml.AliasNode && found.Alias != nil {
		return found.Alias
	}
	return found
}

// checkNetworkConfig checks a network-config document. Invalid YAML is an
// error, since cloud-init would drop the whole file; a missing or unknown
// version is a warning.
func (b *builder) checkNetworkConfig(src Source) ([]byte, error) {
	data := src.Data
	if bytes.HasPrefix(data, utf8BOM) {
		data = data[len(utf8BOM):]
		b.warn(src.Name, 0, "removed the UTF-8 byte-order mark at the start")
	}
	if err := checkUTF8(src.Name, data); err != nil {
		return nil, err
	}
	result, err := yamlcheck.Check(data)
	if err != nil {
		return nil, yamlInputError(src.Name, err)
	}
	for _, w := range result.Warnings {
		b.warn(src.Name, w.Line, w.Message)
	}
	root := result.Root
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, &InputError{Source: src.Name, Problem: "network-config must be a mapping with \"version: 1\" or \"version: 2\"",
			Hint: "see the network config formats in the cloud-init documentation"}
	}
	if network := mappingValue(root, "network"); network != nil && network.Kind == yaml.MappingNode {
		root = network
	}
	version := mappingValue(root, "version")
	if version == nil || version.Kind != yaml.ScalarNode || (version.Value != "1" && version.Value != "2") {
		b.warn(src.Name, 0, "network-config has no \"version: 1\" or \"version: 2\", so cloud-init may ignore it")
	}
	return data, nil
}
