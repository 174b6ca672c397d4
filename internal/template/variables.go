package template

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	// The IANA time zone database is embedded so that TIMEZONE is checked
	// the same way on Windows hosts, which have no /usr/share/zoneinfo.
	_ "time/tzdata"

	"golang.org/x/crypto/ssh"
)

// Kind is the type of a variable's value.
type Kind int

const (
	// String is a single text value.
	String Kind = iota
	// List is an ordered list of text values.
	List
)

func (k Kind) String() string {
	if k == List {
		return "list"
	}
	return "string"
}

// Names of the variables that templates can use.
const (
	VarUsername        = "USERNAME"
	VarHostname        = "HOSTNAME"
	VarInstanceID      = "INSTANCE_ID"
	VarSSHPublicKey    = "SSH_PUBLIC_KEY"
	VarTimezone        = "TIMEZONE"
	VarLocale          = "LOCALE"
	VarKeyboardLayout  = "KEYBOARD_LAYOUT"
	VarOperatingSystem = "OPERATING_SYSTEM"
	VarOSVersion       = "OS_VERSION"
	VarPackages        = "PACKAGES"
	VarRuncmd          = "RUNCMD"
)

// Variable describes one variable that templates can use.
type Variable struct {
	Name string `json:"name"`
	Kind Kind   `json:"-"`
	// Required variables have no default: a render that uses one without a
	// value fails.
	Required bool `json:"required"`
	// Default is the built-in default, shown in help. A template's
	// defaults.yaml can replace it, and INSTANCE_ID gets a random one.
	Default string `json:"default,omitempty"`
	// FromTemplate variables are set from the template's location and
	// cannot be given.
	FromTemplate bool   `json:"fromTemplate,omitempty"`
	Rule         string `json:"rule"`
	Description  string `json:"description"`

	check func(string) (string, error)
}

// KindName returns "string" or "list", for JSON and tables.
func (v Variable) KindName() string { return v.Kind.String() }

// Maximum lengths of free-form values. They keep a seed ISO small and an
// error message readable; no distro limit is behind them.
const (
	maxInstanceIDLength = 128
	maxSSHKeyLength     = 16 * 1024
	maxListItemLength   = 4096
	maxListItems        = 256
	maxPackageLength    = 128
)

// DefaultUsername is the account created when USERNAME is not given.
const DefaultUsername = "genie"

var variables = []Variable{
	{
		Name: VarHostname, Kind: String, Required: true,
		Rule:        "RFC 1123 label: 1 to 63 characters a-z, 0-9 and '-', not starting or ending with '-'",
		Description: "host name of the VM, also its local-hostname in meta-data",
		check:       checkHostname,
	},
	{
		Name: VarUsername, Kind: String, Default: DefaultUsername,
		Rule:        "POSIX user name ^[a-z_][a-z0-9_-]{0,31}$, not root or another system account",
		Description: "account created with the SSH key and passwordless sudo",
		check:       checkUsername,
	},
	{
		Name: VarSSHPublicKey, Kind: String, Required: true,
		Rule:        "one OpenSSH public key in authorized_keys format, without options",
		Description: "public key allowed to log in as USERNAME",
		check:       checkSSHPublicKey,
	},
	{
		Name: VarInstanceID, Kind: String, Default: "i-<16 random hex digits>",
		Rule:        "1 to 128 characters a-z, A-Z, 0-9, '.', '_' and '-', not '.' or '..'",
		Description: "NoCloud instance-id; cloud-init runs first-boot modules again when it changes",
		check:       checkInstanceID,
	},
	{
		Name: VarTimezone, Kind: String, Default: "UTC",
		Rule:        "name in the IANA time zone database, such as Europe/Berlin",
		Description: "time zone of the guest",
		check:       checkTimezone,
	},
	{
		Name: VarLocale, Kind: String, Default: "en_US.UTF-8",
		Rule:        "ll_CC.UTF-8, such as en_US.UTF-8 or de_DE.UTF-8",
		Description: "system locale of the guest",
		check:       checkLocale,
	},
	{
		Name: VarKeyboardLayout, Kind: String, Default: "us",
		Rule:        "XKB layout name: 2 to 16 characters a-z, 0-9, '_' and '-', starting with a letter",
		Description: "keyboard layout of the guest console",
		check:       checkKeyboardLayout,
	},
	{
		Name: VarOperatingSystem, Kind: String, FromTemplate: true,
		Rule:        "set from the template directory <OS>/<version>",
		Description: "OS directory name of the template, such as ubuntu",
	},
	{
		Name: VarOSVersion, Kind: String, FromTemplate: true,
		Rule:        "set from the template directory <OS>/<version>",
		Description: "version directory name of the template, such as 24.04",
	},
	{
		Name: VarPackages, Kind: List, Default: "the template's guest tools",
		Rule:        "package names of letters, digits and + . _ : = ~ -; an empty list installs nothing",
		Description: "packages to install on first boot; empty leaves out the packages key so nothing needs a network",
		check:       checkPackage,
	},
	{
		Name: VarRuncmd, Kind: List, Default: "empty",
		Rule:        "non-empty shell commands of valid UTF-8 without NUL, at most 4096 bytes each",
		Description: "commands the guest runs as root at the end of first boot (cloud-init runcmd)",
		check:       checkCommand,
	},
}

// Variables returns the variables that templates can use, in the order help
// and documentation show them.
func Variables() []Variable { return slices.Clone(variables) }

// LookupVariable returns the variable called name.
func LookupVariable(name string) (Variable, bool) {
	for _, v := range variables {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

func variableNames() string {
	names := make([]string, len(variables))
	for i, v := range variables {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

// Values holds the variable values given for one render. The zero value is
// empty and ready to use. A list variable that is set to an empty list is
// different from one that is not set: the first renders no items, the
// second uses the default. A copy of a Values shares its contents, so build
// a new one for each render.
type Values struct {
	strings map[string]string
	lists   map[string][]string
}

// Set sets a variable from text. A list variable takes a JSON array of
// strings (["a", "b,c"]) or a comma-separated list (a,b); an empty text is
// an empty list.
func (v *Values) Set(name, text string) error {
	variable, err := settable(name)
	if err != nil {
		return err
	}
	if variable.Kind == List {
		items, err := ParseList(text)
		if err != nil {
			return fmt.Errorf("variable %s: %w", name, err)
		}
		return v.SetList(name, items)
	}
	if v.strings == nil {
		v.strings = map[string]string{}
	}
	v.strings[name] = text
	return nil
}

// SetList sets a list variable.
func (v *Values) SetList(name string, items []string) error {
	variable, err := settable(name)
	if err != nil {
		return err
	}
	if variable.Kind != List {
		return fmt.Errorf("variable %s is a string, not a list: give it one value", name)
	}
	if v.lists == nil {
		v.lists = map[string][]string{}
	}
	v.lists[name] = slices.Clone(items)
	return nil
}

// List returns the items of the list variable called name, or nil when it
// was not set.
func (v *Values) List(name string) []string {
	return slices.Clone(v.lists[name])
}

// Has reports whether the variable called name was set.
func (v *Values) Has(name string) bool {
	if _, ok := v.strings[name]; ok {
		return true
	}
	_, ok := v.lists[name]
	return ok
}

func settable(name string) (Variable, error) {
	variable, ok := LookupVariable(name)
	if !ok {
		return Variable{}, fmt.Errorf("unknown variable %q: use one of %s", name, variableNames())
	}
	if variable.FromTemplate {
		return Variable{}, fmt.Errorf("variable %s is set from the template's location and cannot be given", name)
	}
	return variable, nil
}

// ParseAssignment splits "NAME=VALUE" as given to --var.
func ParseAssignment(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("invalid variable assignment %q: use NAME=VALUE", s)
	}
	return name, value, nil
}

// ParseList parses a list value: a JSON array of strings, or items
// separated by commas with the spaces around them trimmed. Empty text or
// "[]" is an empty list.
func ParseList(text string) ([]string, error) {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return []string{}, nil
	}
	if strings.HasPrefix(trimmed, "[") {
		var items []string
		if err := json.Unmarshal([]byte(trimmed), &items); err != nil {
			return nil, fmt.Errorf("invalid list %q: use a JSON array of strings such as [\"a\", \"b\"]: %w", quoteShort(text), err)
		}
		if items == nil {
			items = []string{}
		}
		return items, nil
	}
	var items []string
	for item := range strings.SplitSeq(trimmed, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items, nil
}

var (
	hostnamePattern       = lazyRegexp(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	usernamePattern       = lazyRegexp(`^[a-z_][a-z0-9_-]{0,31}$`)
	instanceIDPattern     = lazyRegexp(`^[A-Za-z0-9._-]{1,128}$`)
	localePattern         = lazyRegexp(`^[a-z]{2,3}_[A-Z]{2}\.UTF-8$`)
	keyboardLayoutPattern = lazyRegexp(`^[a-z][a-z0-9_-]{1,15}$`)
	packagePattern        = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9+._:=~-]*$`)
)

// reservedUsernames are accounts that exist in the base images of the
// shipped distros or are commonly created by their packages. cloud-init's
// users module would add our SSH key and sudo rule to such an existing
// system account instead of creating a new user.
var reservedUsernames = map[string]bool{
	"root": true, "daemon": true, "bin": true, "sys": true, "sync": true,
	"games": true, "man": true, "lp": true, "mail": true, "news": true,
	"uucp": true, "proxy": true, "www-data": true, "backup": true,
	"list": true, "irc": true, "gnats": true, "nobody": true, "_apt": true,
	"messagebus": true, "sshd": true, "syslog": true, "adm": true,
	"halt": true, "operator": true, "shutdown": true, "ftp": true,
	"dbus": true, "polkitd": true, "tss": true, "chrony": true,
	"_chrony": true, "admin": true, "wheel": true, "sudo": true,
	"users": true, "nogroup": true, "tcpdump": true, "rpc": true,
	"rpcuser": true, "dnsmasq": true, "avahi": true,
}

func checkHostname(s string) (string, error) {
	if !hostnamePattern().MatchString(s) {
		return "", fmt.Errorf("%s is not a valid hostname: use 1 to 63 characters a-z, 0-9 and '-', not starting or ending with '-'", quoteShort(s))
	}
	return s, nil
}

func checkUsername(s string) (string, error) {
	if !usernamePattern().MatchString(s) {
		return "", fmt.Errorf("%s is not a valid user name: start with a-z or '_', then use up to 31 characters a-z, 0-9, '_' and '-'", quoteShort(s))
	}
	if reservedUsernames[s] || strings.HasPrefix(s, "systemd-") {
		return "", fmt.Errorf("%q is a system account name: choose another user name, such as %s", s, DefaultUsername)
	}
	return s, nil
}

// checkSSHPublicKey accepts exactly one key and returns it as
// "<type> <base64> [comment]", the form ssh.MarshalAuthorizedKey writes.
func checkSSHPublicKey(s string) (string, error) {
	if len(s) > maxSSHKeyLength {
		return "", fmt.Errorf("SSH public key is %d bytes long: the limit is %d", len(s), maxSSHKeyLength)
	}
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return "", fmt.Errorf("%s is not a valid SSH public key: give one line in authorized_keys format, such as the contents of ~/.ssh/id_ed25519.pub: %w", quoteShort(s), err)
	}
	if len(options) > 0 {
		return "", fmt.Errorf("SSH public key %s has authorized_keys options %q: give the key without options", quoteShort(s), options)
	}
	for line := range strings.SplitSeq(string(rest), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return "", fmt.Errorf("SSH_PUBLIC_KEY contains more than one line with a key: give exactly one key")
		}
	}
	for _, r := range comment {
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("SSH public key comment %s contains a control character: remove it", quoteShort(comment))
		}
	}
	normalized := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(key)), "\n")
	if comment = strings.TrimSpace(comment); comment != "" {
		normalized += " " + comment
	}
	return normalized, nil
}

func checkInstanceID(s string) (string, error) {
	if !instanceIDPattern().MatchString(s) || s == "." || s == ".." {
		return "", fmt.Errorf("%s is not a valid instance ID: use 1 to %d characters a-z, A-Z, 0-9, '.', '_' and '-', not '.' or '..' (cloud-init uses it as a directory name)", quoteShort(s), maxInstanceIDLength)
	}
	return s, nil
}

func checkTimezone(s string) (string, error) {
	hint := "use a name from the IANA time zone database, such as UTC or Europe/Berlin"
	if s == "" || s == "Local" || strings.HasPrefix(s, "/") || strings.Contains(s, "..") || strings.ContainsAny(s, "\\ \t\n") {
		return "", fmt.Errorf("%s is not a valid time zone: %s", quoteShort(s), hint)
	}
	if _, err := time.LoadLocation(s); err != nil {
		return "", fmt.Errorf("%s is not a valid time zone: %s", quoteShort(s), hint)
	}
	return s, nil
}

func checkLocale(s string) (string, error) {
	if !localePattern().MatchString(s) {
		return "", fmt.Errorf("%s is not a valid locale: use the form ll_CC.UTF-8, such as en_US.UTF-8", quoteShort(s))
	}
	return s, nil
}

func checkKeyboardLayout(s string) (string, error) {
	if !keyboardLayoutPattern().MatchString(s) {
		return "", fmt.Errorf("%s is not a valid keyboard layout: use an XKB layout name such as us, de or gb (2 to 16 characters a-z, 0-9, '_' and '-', starting with a letter)", quoteShort(s))
	}
	return s, nil
}

func checkPackage(s string) (string, error) {
	if len(s) > maxPackageLength || !packagePattern().MatchString(s) {
		return "", fmt.Errorf("%s is not a valid package name: use up to %d letters, digits and + . _ : = ~ -, starting with a letter or digit", quoteShort(s), maxPackageLength)
	}
	return s, nil
}

func checkCommand(s string) (string, error) {
	switch {
	case strings.TrimSpace(s) == "":
		return "", fmt.Errorf("empty command: remove it from the list")
	case !utf8.ValidString(s):
		return "", fmt.Errorf("command %s is not valid UTF-8", quoteShort(s))
	case strings.ContainsRune(s, 0):
		return "", fmt.Errorf("command %s contains a NUL character", quoteShort(s))
	case len(s) > maxListItemLength:
		return "", fmt.Errorf("command %s is %d bytes long: the limit is %d", quoteShort(s), len(s), maxListItemLength)
	}
	return s, nil
}

// checkValue checks a value of the variable and returns its normalized
// form. Values of every variable must be valid UTF-8.
func checkValue(v Variable, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s is not valid UTF-8", quoteShort(s))
	}
	if v.check == nil {
		return s, nil
	}
	return v.check(s)
}

func checkList(v Variable, items []string) ([]string, error) {
	if len(items) > maxListItems {
		return nil, fmt.Errorf("list has %d items: the limit is %d", len(items), maxListItems)
	}
	out := make([]string, len(items))
	for i, item := range items {
		checked, err := checkValue(v, item)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		out[i] = checked
	}
	return out, nil
}

// NewInstanceID returns a random instance ID of the form i-<16 hex digits>.
func NewInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error.
	return "i-" + hex.EncodeToString(b)
}

// quoteShort quotes s for an error message, cutting it at 80 bytes so a
// pasted key or script does not flood the terminal.
func quoteShort(s string) string {
	const limit = 80
	if len(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}

// lazyRegexp compiles pattern on first use instead of at program start, so
// that commands that never render a template do not pay for it.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
