package instance

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNameAccepts(t *testing.T) {
	for _, name := range []string{"a", "demo", "web-1", "0abc", strings.Repeat("a", 63), "con1", "lpt"} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
}

func TestValidateNameRejects(t *testing.T) {
	cases := []struct {
		name string
		rule string // a fragment the message must contain
	}{
		{"", "empty"},
		{strings.Repeat("a", 64), "at most 63"},
		{"..", `".."`},
		{"a..b", `".."`},
		{".", `"."`},
		{"a/b", "path separators"},
		{`a\b`, "path separators"},
		{"my vm", "white space"},
		{"-rf", "leading '-'"},
		{"web-", "cannot end with '-'"},
		{"Demo", `"demo"`},
		{"Web_1", "use only a-z, 0-9 and '-'"},
		{"web_1", `'_'`},
		{"héllo", `'é'`},
		{"con", "reserved device name"},
		{"nul", "reserved device name"},
		{"com1", "reserved device name"},
		{"lpt9", "reserved device name"},
	}
	for _, tc := range cases {
		err := ValidateName(tc.name)
		var nameErr *InvalidNameError
		if !errors.As(err, &nameErr) {
			t.Errorf("ValidateName(%q) = %v, want *InvalidNameError", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("ValidateName(%q) = %q, want it to mention %q", tc.name, err, tc.rule)
		}
	}
}
