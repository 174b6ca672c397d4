package instance

import (
	"fmt"
	"strings"
)

// MaxNameLength is the longest instance name: one DNS label.
const MaxNameLength = 63

// windowsReservedNames are device names that Windows refuses as file or
// directory names, with or without an extension.
var windowsReservedNames = map[string]bool{
	"con": true, "prn": true, "aux": true, "nul": true,
	"com0": true, "com1": true, "com2": true, "com3": true, "com4": true,
	"com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt0": true, "lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true,
	"lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true,
}

// InvalidNameError reports an instance name that breaks a naming rule.
type InvalidNameError struct {
	Name string
	Rule string
}

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("invalid instance name %q: %s", e.Name, e.Rule)
}

// ValidateName checks that name can be a hostname label, a directory name on
// every platform, and a VM name: 1 to 63 characters a-z, 0-9 and '-', not
// starting or ending with '-', and not a Windows device name.
func ValidateName(name string) error {
	invalid := func(rule string) error { return &InvalidNameError{Name: name, Rule: rule} }
	switch {
	case name == "":
		return invalid("the name is empty; give a name such as \"demo\"")
	case len(name) > MaxNameLength:
		return invalid(fmt.Sprintf("it is %d characters long; use at most %d", len(name), MaxNameLength))
	case name == "." || name == ".." || strings.Contains(name, ".."):
		return invalid("\"..\" and \".\" would leave the data directory; use letters, digits and '-'")
	case strings.ContainsAny(name, `/\`):
		return invalid("path separators ('/' and '\\') are not allowed; use letters, digits and '-'")
	case strings.ContainsAny(name, " \t\r\n"):
		return invalid("white space is not allowed; use '-' between words, as in \"web-1\"")
	case strings.HasPrefix(name, "-"):
		return invalid("a leading '-' would be read as a command-line option; start with a letter or digit")
	case strings.HasSuffix(name, "-"):
		return invalid("a hostname label cannot end with '-'; end with a letter or digit")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
		case r >= 'A' && r <= 'Z':
			rule := "uppercase letters are not allowed, because hostnames and Windows paths ignore case"
			if lower := strings.ToLower(name); ValidateName(lower) == nil {
				return invalid(rule + fmt.Sprintf("; use %q", lower))
			}
			return invalid(rule + "; use only a-z, 0-9 and '-'")
		default:
			return invalid(fmt.Sprintf("the character %q is not allowed; use only a-z, 0-9 and '-'", r))
		}
	}
	if windowsReservedNames[name] {
		return invalid("it is a reserved device name on Windows (CON, PRN, AUX, NUL, COM0-9, LPT0-9); choose another name")
	}
	return nil
}
