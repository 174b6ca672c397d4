package template

import (
	"regexp"
	"strings"
	"testing"
)

const (
	testEd25519Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHHcbnu3nGqQSNQlh1+8yPWcC2ZJ9cBIDXg/X9FIzXUn"
	testRSAKey     = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDD9Jk+4o2kQq1Xh7NRL8FJ7LW4wMdRzC+f3v4B1YAY9p4lmwRyEHf6V5LgCFiH+l8YzOcNN6Ri8KqGn5EnOxMTc7FCm/wd5Oaf7zZ6h4qPFhyW7O1zL4T0i/63O1q5bRfhgtXEJuB/KBYFCsOPYWUNnrgdNhsU2L9Uq5e+RWuJ9w=="
)

func TestValidators(t *testing.T) {
	tests := []struct {
		variable string
		value    string
		want     string // normalized value; empty means the value is rejected
		errMatch string // regexp the error must match when rejected
	}{
		{VarHostname, "web-01", "web-01", ""},
		{VarHostname, "a", "a", ""},
		{VarHostname, strings.Repeat("a", 63), strings.Repeat("a", 63), ""},
		{VarHostname, strings.Repeat("a", 64), "", "not a valid hostname: use 1 to 63 characters"},
		{VarHostname, "", "", "not a valid hostname"},
		{VarHostname, "My_Host", "", `"My_Host" is not a valid hostname: use 1 to 63 characters a-z, 0-9 and '-', not starting or ending with '-'`},
		{VarHostname, "-web", "", "not starting or ending with '-'"},
		{VarHostname, "web-", "", "not a valid hostname"},
		{VarHostname, "web.example.com", "", "not a valid hostname"},
		{VarHostname, "web\nx", "", "not a valid hostname"},

		{VarUsername, "genie", "genie", ""},
		{VarUsername, "_svc", "_svc", ""},
		{VarUsername, "dev-user_2", "dev-user_2", ""},
		{VarUsername, "a" + strings.Repeat("b", 31), "a" + strings.Repeat("b", 31), ""},
		{VarUsername, "a" + strings.Repeat("b", 32), "", "not a valid user name"},
		{VarUsername, "root", "", `"root" is a system account name`},
		{VarUsername, "nobody", "", "system account name"},
		{VarUsername, "systemd-network", "", "system account name"},
		{VarUsername, "Admin", "", "not a valid user name"},
		{VarUsername, "1user", "", "not a valid user name"},
		{VarUsername, "user name", "", "not a valid user name"},
		{VarUsername, "", "", "not a valid user name"},

		{VarSSHPublicKey, testEd25519Key + " me@laptop", testEd25519Key + " me@laptop", ""},
		{VarSSHPublicKey, "  " + testEd25519Key + "\n", testEd25519Key, ""},
		{VarSSHPublicKey, testRSAKey, testRSAKey, ""},
		{VarSSHPublicKey, testEd25519Key + " comment\n# a comment line\n", testEd25519Key + " comment", ""},
		{VarSSHPublicKey, "ssh-ed25519 notbase64", "", "not a valid SSH public key"},
		{VarSSHPublicKey, "", "", "not a valid SSH public key"},
		{VarSSHPublicKey, `command="rm -rf /" ` + testEd25519Key, "", "options"},
		{VarSSHPublicKey, testEd25519Key + "\n" + testRSAKey, "", "more than one line with a key"},

		{VarInstanceID, "i-0123abcd", "i-0123abcd", ""},
		{VarInstanceID, "vm.2024_01-a", "vm.2024_01-a", ""},
		{VarInstanceID, strings.Repeat("x", 128), strings.Repeat("x", 128), ""},
		{VarInstanceID, strings.Repeat("x", 129), "", "not a valid instance ID"},
		{VarInstanceID, "..", "", "not a valid instance ID"},
		{VarInstanceID, "a/b", "", "directory name"},
		{VarInstanceID, "a b", "", "not a valid instance ID"},
		{VarInstanceID, "", "", "not a valid instance ID"},

		{VarTimezone, "UTC", "UTC", ""},
		{VarTimezone, "Europe/Berlin", "Europe/Berlin", ""},
		{VarTimezone, "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", ""},
		{VarTimezone, "Etc/GMT+5", "Etc/GMT+5", ""},
		{VarTimezone, "Local", "", "not a valid time zone"},
		{VarTimezone, "/etc/localtime", "", "not a valid time zone"},
		{VarTimezone, "../../etc/passwd", "", "not a valid time zone"},
		{VarTimezone, "Mars/Olympus", "", "not a valid time zone: use a name from the IANA time zone database"},
		{VarTimezone, "", "", "not a valid time zone"},

		{VarLocale, "en_US.UTF-8", "en_US.UTF-8", ""},
		{VarLocale, "de_DE.UTF-8", "de_DE.UTF-8", ""},
		{VarLocale, "ast_ES.UTF-8", "ast_ES.UTF-8", ""},
		{VarLocale, "en_US", "", "not a valid locale: use the form ll_CC.UTF-8"},
		{VarLocale, "en_US.utf8", "", "not a valid locale"},
		{VarLocale, "C.UTF-8", "", "not a valid locale"},
		{VarLocale, "EN_us.UTF-8", "", "not a valid locale"},

		{VarKeyboardLayout, "us", "us", ""},
		{VarKeyboardLayout, "latam", "latam", ""},
		{VarKeyboardLayout, "u", "", "not a valid keyboard layout"},
		{VarKeyboardLayout, "US", "", "not a valid keyboard layout"},
		{VarKeyboardLayout, "de(nodeadkeys)", "", "not a valid keyboard layout"},
		{VarKeyboardLayout, "us\"; reboot", "", "not a valid keyboard layout"},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"/"+tt.value, func(t *testing.T) {
			v, ok := LookupVariable(tt.variable)
			if !ok {
				t.Fatalf("variable %s not defined", tt.variable)
			}
			got, err := checkValue(v, tt.value)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("checkValue(%q) failed: %v", tt.value, err)
				}
				if got != tt.want {
					t.Errorf("checkValue(%q) = %q, want %q", tt.value, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkValue(%q) = %q, want an error", tt.value, got)
			}
			if !regexp.MustCompile(regexp.QuoteMeta(tt.errMatch)).MatchString(err.Error()) {
				t.Errorf("error %q does not contain %q", err, tt.errMatch)
			}
		})
	}
}

func TestListValidators(t *testing.T) {
	tests := []struct {
		variable string
		items    []string
		errMatch string
	}{
		{VarPackages, []string{"qemu-guest-agent", "linux-cloud-tools-virtual", "g++", "python3.12", "pkg=1.0~rc1"}, ""},
		{VarPackages, []string{}, ""},
		{VarPackages, []string{"ok", "bad name"}, "item 2: \"bad name\" is not a valid package name"},
		{VarPackages, []string{"-flag"}, "not a valid package name"},
		{VarPackages, []string{strings.Repeat("p", 129)}, "not a valid package name"},
		{VarRuncmd, []string{"touch /var/tmp/marker", "echo 'a: b' > /tmp/x # c"}, ""},
		{VarRuncmd, []string{" "}, "item 1: empty command"},
		{VarRuncmd, []string{"a\x00b"}, "NUL"},
		{VarRuncmd, []string{"\xff"}, "not valid UTF-8"},
		{VarRuncmd, []string{strings.Repeat("x", 4097)}, "4097 bytes long"},
		{VarRuncmd, make([]string, 257), "257 items"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			v, _ := LookupVariable(tt.variable)
			_, err := checkList(v, tt.items)
			if tt.errMatch == "" {
				if err != nil {
					t.Fatalf("checkList(%q) failed: %v", tt.items, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errMatch) {
				t.Errorf("checkList(%q) error = %v, want one containing %q", tt.items, err, tt.errMatch)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", []string{}},
		{"  ", []string{}},
		{"[]", []string{}},
		{"a", []string{"a"}},
		{"a, b ,c", []string{"a", "b", "c"}},
		{"a,,b,", []string{"a", "b"}},
		{`["echo a, b", "x"]`, []string{"echo a, b", "x"}},
	}
	for _, tt := range tests {
		got, err := ParseList(tt.text)
		if err != nil {
			t.Errorf("ParseList(%q) failed: %v", tt.text, err)
			continue
		}
		if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || got == nil {
			t.Errorf("ParseList(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
	if _, err := ParseList(`["a", 1]`); err == nil {
		t.Error("ParseList accepted a JSON array with a number")
	}
}

func TestParseAssignment(t *testing.T) {
	name, value, err := ParseAssignment("RUNCMD=echo a=b")
	if err != nil || name != "RUNCMD" || value != "echo a=b" {
		t.Errorf("ParseAssignment = %q, %q, %v", name, value, err)
	}
	name, value, err = ParseAssignment("PACKAGES=")
	if err != nil || name != "PACKAGES" || value != "" {
		t.Errorf("ParseAssignment empty value = %q, %q, %v", name, value, err)
	}
	for _, bad := range []string{"", "NAME", "=value"} {
		if _, _, err := ParseAssignment(bad); err == nil {
			t.Errorf("ParseAssignment(%q) succeeded", bad)
		}
	}
}

func TestValuesSet(t *testing.T) {
	var v Values
	if err := v.Set("NOPE", "x"); err == nil || !strings.Contains(err.Error(), `unknown variable "NOPE"`) {
		t.Errorf("Set unknown variable: %v", err)
	}
	if err := v.Set(VarOperatingSystem, "x"); err == nil || !strings.Contains(err.Error(), "set from the template's location") {
		t.Errorf("Set OPERATING_SYSTEM: %v", err)
	}
	if err := v.SetList(VarHostname, []string{"a"}); err == nil {
		t.Error("SetList accepted a string variable")
	}
	if err := v.Set(VarPackages, ""); err != nil {
		t.Fatal(err)
	}
	if !v.Has(VarPackages) {
		t.Error("Has(PACKAGES) = false after setting it to an empty list")
	}
	if got := v.lists[VarPackages]; got == nil || len(got) != 0 {
		t.Errorf("PACKAGES = %#v, want an empty list", got)
	}
	if v.Has(VarRuncmd) {
		t.Error("Has(RUNCMD) = true although it was not set")
	}
}

func TestNewInstanceIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewInstanceID()
		if _, err := checkInstanceID(id); err != nil {
			t.Fatalf("generated instance ID %q is invalid: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("instance ID %q generated twice", id)
		}
		seen[id] = true
	}
}
