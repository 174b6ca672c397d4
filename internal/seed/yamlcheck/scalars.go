package yamlcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The regular expressions below restate the YAML 1.1 implicit types as
// PyYAML 6.0 resolves and constructs them (yaml/resolver.py and
// yaml/constructor.py). Python's "$" also matches before a final newline,
// hence "\n?\z".
// patterns holds the compiled expressions. They are compiled on first use
// rather than at program start, which keeps every vmgenie command that does
// not check YAML from paying for them.
type patterns struct {
	boolRE, floatRE, intRE, mergeRE, nullRE, timestampRE, valueRE *regexp.Regexp

	// timestampPartsRE is the constructor's pattern, which also accepts a
	// date with one-digit month and day and no time.
	timestampPartsRE *regexp.Regexp

	pyFloatRE *regexp.Regexp
}

var compiled = sync.OnceValue(func() *patterns {
	return &patterns{
		boolRE:      regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)\n?\z`),
		floatRE:     regexp.MustCompile(`^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\n?\z`),
		intRE:       regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)\n?\z`),
		mergeRE:     regexp.MustCompile(`^<<\n?\z`),
		nullRE:      regexp.MustCompile(`^(?:~|null|Null|NULL|)\n?\z`),
		timestampRE: regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)\n?\z`),
		valueRE:     regexp.MustCompile(`^=\n?\z`),

		timestampPartsRE: regexp.MustCompile(`^([0-9][0-9][0-9][0-9])-([0-9][0-9]?)-([0-9][0-9]?)(?:(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9][0-9]):([0-9][0-9])(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9][0-9]))?))?)?\n?\z`),

		pyFloatRE: regexp.MustCompile(`^[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?|inf|infinity|nan)$`),
	}
})

// implicitTag returns the tag PyYAML's Resolver gives a plain scalar. The
// resolvers are chosen by the first character, in registration order.
func implicitTag(value string) string {
	p := compiled()
	if value == "" {
		return tagNull
	}
	first := value[0]
	if strings.IndexByte("yYnNtTfFoO", first) >= 0 && p.boolRE.MatchString(value) {
		return tagBool
	}
	if strings.IndexByte("-+0123456789.", first) >= 0 && p.floatRE.MatchString(value) {
		return tagFloat
	}
	if strings.IndexByte("-+0123456789", first) >= 0 && p.intRE.MatchString(value) {
		return tagInt
	}
	if first == '<' && p.mergeRE.MatchString(value) {
		return tagMerge
	}
	if strings.IndexByte("~nN", first) >= 0 && p.nullRE.MatchString(value) {
		return tagNull
	}
	if first >= '0' && first <= '9' && p.timestampRE.MatchString(value) {
		return tagTimestamp
	}
	if first == '=' && p.valueRE.MatchString(value) {
		return tagValue
	}
	return tagStr
}

// checkInt repeats SafeConstructor.construct_yaml_int and returns why it
// would raise, or "".
func checkInt(value string) string {
	v := strings.ReplaceAll(value, "_", "")
	invalid := fmt.Sprintf("invalid integer %q", value)
	if v == "" {
		return invalid
	}
	if v[0] == '-' || v[0] == '+' {
		v = v[1:]
	}
	switch {
	case v == "0":
		return ""
	case strings.HasPrefix(v, "0b"):
		if !pyIntValid(v[2:], 2) {
			return invalid
		}
	case strings.HasPrefix(v, "0x"):
		if !pyIntValid(v[2:], 16) {
			return invalid
		}
	case v == "":
		return invalid
	case v[0] == '0':
		if !pyIntValid(v, 8) {
			return invalid
		}
	case strings.Contains(v, ":"):
		for _, part := range strings.Split(v, ":") {
			if !pyIntValid(part, 10) {
				return invalid
			}
		}
	default:
		if !pyIntValid(v, 10) {
			return invalid
		}
	}
	return ""
}

// pyIntValid reports whether Python's int(s, base) accepts s, for the
// ASCII inputs this package meets. Python also accepts non-ASCII decimal
// digits, which this rejects.
func pyIntValid(s string, base int) bool {
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	prefix := map[int]string{2: "0b", 8: "0o", 16: "0x"}[base]
	if prefix != "" && len(s) > 2 && strings.EqualFold(s[:2], prefix) {
		s = s[2:]
	}
	if s == "" {
		return false
	}
	for _, r := range s {
		d, err := strconv.ParseInt(string(r), 36, 8)
		if err != nil || int(d) >= base {
			return false
		}
	}
	return true
}

// checkFloat repeats SafeConstructor.construct_yaml_float.
func checkFloat(value string) string {
	v := strings.ToLower(strings.ReplaceAll(value, "_", ""))
	invalid := fmt.Sprintf("invalid float %q", value)
	if v == "" {
		return invalid
	}
	if v[0] == '-' || v[0] == '+' {
		v = v[1:]
	}
	if v == ".inf" || v == ".nan" {
		return ""
	}
	parts := []string{v}
	if strings.Contains(v, ":") {
		parts = strings.Split(v, ":")
	}
	for _, part := range parts {
		if !compiled().pyFloatRE.MatchString(strings.TrimSpace(part)) {
			return invalid
		}
	}
	return ""
}

// checkTimestamp repeats SafeConstructor.construct_yaml_timestamp, which
// builds a datetime.date or datetime.datetime and so rejects dates and
// times that do not exist.
func checkTimestamp(value string) string {
	m := compiled().timestampPartsRE.FindStringSubmatch(value)
	if m == nil {
		return fmt.Sprintf("invalid timestamp %q", value)
	}
	year, _ := strconv.Atoi(m[1])
	month, _ := strconv.Atoi(m[2])
	day, _ := strconv.Atoi(m[3])
	if year < 1 {
		return fmt.Sprintf("invalid date %q: year 0 is out of range", value)
	}
	if month < 1 || month > 12 {
		return fmt.Sprintf("invalid date %q: month must be in 1..12", value)
	}
	if days := daysIn(year, month); day < 1 || day > days {
		return fmt.Sprintf("invalid date %q: day is out of range for month", value)
	}
	if m[4] == "" {
		return ""
	}
	hour, _ := strconv.Atoi(m[4])
	minute, _ := strconv.Atoi(m[5])
	second, _ := strconv.Atoi(m[6])
	switch {
	case hour > 23:
		return fmt.Sprintf("invalid time %q: hour must be in 0..23", value)
	case minute > 59:
		return fmt.Sprintf("invalid time %q: minute must be in 0..59", value)
	case second > 59:
		return fmt.Sprintf("invalid time %q: second must be in 0..59", value)
	}
	if m[9] != "" {
		tzHour, _ := strconv.Atoi(m[10])
		tzMinute, _ := strconv.Atoi(m[11])
		if tzHour*60+tzMinute >= 24*60 {
			return fmt.Sprintf("invalid time zone offset in %q: it must be less than 24 hours", value)
		}
	}
	return ""
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// checkBinary repeats SafeConstructor.construct_yaml_binary: the value must
// be ASCII, and base64.decodebytes must accept it. decodebytes (CPython's
// binascii.a2b_base64 in non-strict mode) skips characters outside the
// base64 alphabet, stops at a complete pad, and fails when the data
// characters do not end on a quad boundary.
func checkBinary(value string) string {
	for i := 0; i < len(value); i++ {
		if value[i] >= 0x80 {
			return "failed to convert base64 data into ascii"
		}
	}
	quadPos, pads, dataChars := 0, 0, 0
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '=' {
			if quadPos >= 2 {
				pads++
				if quadPos+pads >= 4 {
					return ""
				}
			}
			continue
		}
		if !isBase64Char(c) {
			continue
		}
		pads = 0
		dataChars++
		quadPos = (quadPos + 1) % 4
	}
	switch quadPos {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("failed to decode base64 data: number of data characters (%d) cannot be 1 more than a multiple of 4", dataChars)
	}
	return "failed to decode base64 data: incorrect padding"
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}
