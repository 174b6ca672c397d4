package seed

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestGeneratedMetaData(t *testing.T) {
	seed, err := Build(Spec{Hostname: "web-1", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^iid-[0-9a-f]{16}$`).MatchString(seed.InstanceID) {
		t.Errorf("InstanceID = %q, want iid- and 16 hex digits", seed.InstanceID)
	}
	metaData, _ := seed.File(MetaDataName)
	want := "instance-id: " + seed.InstanceID + "\nlocal-hostname: web-1\n"
	if string(metaData) != want {
		t.Errorf("meta-data = %q, want %q", metaData, want)
	}
	if !seed.MetaDataGenerated {
		t.Error("MetaDataGenerated = false, want true")
	}

	other, err := Build(Spec{Hostname: "web-1", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	if other.InstanceID == seed.InstanceID {
		t.Errorf("two builds share the instance-id %q", seed.InstanceID)
	}
}

func TestDefaultHostname(t *testing.T) {
	seed, err := Build(Spec{InstanceID: "iid-0123456789abcdef", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	if seed.Hostname != "vm-89abcdef" {
		t.Errorf("Hostname = %q, want vm-89abcdef", seed.Hostname)
	}
	if got := defaultHostname("nocloud"); got != "vm-cd" {
		t.Errorf("defaultHostname(nocloud) = %q, want vm-cd", got)
	}
	if got := defaultHostname("xyz"); got != "vm" {
		t.Errorf("defaultHostname(xyz) = %q, want vm", got)
	}
}

func TestValidateHostname(t *testing.T) {
	valid := []string{"a", "web-1", "WEB1", "host.example.com", strings.Repeat("a", 63), "1abc"}
	for _, name := range valid {
		if err := ValidateHostname(name); err != nil {
			t.Errorf("ValidateHostname(%q) = %v, want nil", name, err)
		}
	}
	invalid := map[string]string{
		"":                               "empty",
		"-web":                           "hyphen",
		"web-":                           "hyphen",
		"web_1":                          `contains '_'`,
		"web 1":                          `contains ' '`,
		"a..b":                           "empty label",
		"a.":                             "empty label",
		strings.Repeat("a", 64):          "more than 63",
		strings.Repeat("a.", 127) + "aa": "more than 253",
		"wéb":                            `contains 'é'`,
		"a;rm -rf":                       `contains ';'`,
		"$(reboot)":                      `contains '$'`,
	}
	for name, want := range invalid {
		err := ValidateHostname(name)
		if err == nil {
			t.Errorf("ValidateHostname(%q) = nil, want an error", name)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateHostname(%q) = %q, want it to mention %q", name, err, want)
		}
	}
}

func TestInstanceIDValidation(t *testing.T) {
	if _, err := Build(Spec{InstanceID: "iid-a_b.c"}); err != nil {
		t.Errorf("valid instance-id rejected: %v", err)
	}
	for _, id := range []string{"a b", "a\nlocal-hostname: x", "../x", strings.Repeat("a", 129)} {
		if _, err := Build(Spec{InstanceID: id}); err == nil {
			t.Errorf("instance-id %q accepted", id)
		}
	}
}

func TestGivenMetaData(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		hostname string
		wantID   string
		wantHost string
		warning  string
		err      string
	}{
		{name: "yaml", data: "instance-id: i-1\nlocal-hostname: h1\n", wantID: "i-1", wantHost: "h1"},
		{name: "json", data: "{\"instance-id\": \"i-2\", \"local-hostname\": \"h2\"}\n", wantID: "i-2", wantHost: "h2"},
		{name: "same hostname", data: "instance-id: i-1\nlocal-hostname: h1\n", hostname: "h1", wantID: "i-1", wantHost: "h1"},
		{name: "no hostname", data: "instance-id: i-1\n", wantID: "i-1", warning: "has no local-hostname"},
		{name: "BOM", data: "\uFEFFinstance-id: i-1\nlocal-hostname: h\n", wantID: "i-1", wantHost: "h", warning: "byte-order mark"},
		{name: "no instance-id", data: "local-hostname: h\n", err: `md: meta-data has no instance-id: add a line "instance-id: iid-<unique value>"`},
		{name: "empty", data: "", err: "meta-data is empty and has no instance-id"},
		{name: "empty instance-id", data: "instance-id:\n", err: "md:1:13: meta-data instance-id is empty"},
		{name: "list", data: "- a\n", err: "md:1:1: meta-data must be a mapping"},
		{name: "bad yaml", data: "instance-id: a\n local-hostname: b\n", err: "md:2:16: invalid YAML: mapping values are not allowed"},
		{name: "bad hostname", data: "instance-id: a\nlocal-hostname: a_b\n", err: "md:2:17: meta-data local-hostname: invalid hostname"},
		{name: "hostname conflict", data: "instance-id: a\nlocal-hostname: b\n", hostname: "c", err: `the hostname "c" differs from local-hostname "b"`},
		{name: "hostname not in file", data: "instance-id: a\n", hostname: "c", err: `add the line "local-hostname: c" to the file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed, err := Build(Spec{MetaData: &Source{Name: "md", Data: []byte(tc.data)}, Hostname: tc.hostname, ModTime: fixedTime})
			if tc.err != "" {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("error = %v, want *InputError", err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %q does not contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if seed.InstanceID != tc.wantID {
				t.Errorf("InstanceID = %q, want %q", seed.InstanceID, tc.wantID)
			}
			if seed.Hostname != tc.wantHost {
				t.Errorf("Hostname = %q, want %q", seed.Hostname, tc.wantHost)
			}
			if seed.MetaDataGenerated {
				t.Error("MetaDataGenerated = true for a given meta-data")
			}
			text := warningsText(seed.Warnings)
			if tc.warning != "" && !strings.Contains(text, tc.warning) {
				t.Errorf("warnings %q do not contain %q", text, tc.warning)
			}
			if tc.warning == "" && text != "" {
				t.Errorf("unexpected warnings %q", text)
			}
		})
	}
}

func TestNetworkConfig(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		warning string
		err     string
	}{
		{name: "v2", data: "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"},
		{name: "v1", data: "version: 1\nconfig:\n  - type: physical\n    name: eth0\n"},
		{name: "wrapped", data: "network:\n  version: 2\n  ethernets: {}\n"},
		{name: "no version", data: "ethernets: {}\n", warning: "has no \"version: 1\" or \"version: 2\""},
		{name: "version 3", data: "version: 3\n", warning: "has no \"version: 1\""},
		{name: "not a mapping", data: "- a\n", err: "network-config must be a mapping"},
		{name: "tab", data: "version: 2\nethernets:\n\teth0: {}\n", err: "nc:3:1: invalid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed, err := Build(Spec{NetworkConfig: &Source{Name: "nc", Data: []byte(tc.data)}, InstanceID: "iid-1", ModTime: fixedTime})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, ok := seed.File(NetworkConfigName)
			if !ok || string(data) != tc.data {
				t.Errorf("network-config = %q, want %q", data, tc.data)
			}
			text := warningsText(seed.Warnings)
			if tc.warning != "" && !strings.Contains(text, tc.warning) {
				t.Errorf("warnings %q do not contain %q", text, tc.warning)
			}
			if tc.warning == "" && text != "" {
				t.Errorf("unexpected warnings %q", text)
			}
		})
	}
}

func TestVendorData(t *testing.T) {
	seed, err := Build(Spec{VendorData: &Source{Name: "vd", Data: []byte("#!/bin/sh\r\necho vendor\r\n")}, InstanceID: "iid-1", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := seed.File(VendorDataName)
	if string(data) != "#!/bin/sh\necho vendor\n" {
		t.Errorf("vendor-data = %q, want the script with LF line ends", data)
	}
	gz := gzipBytes(t, "#cloud-config\na: 1\n")
	seed, err = Build(Spec{VendorData: &Source{Name: "vd", Data: gz}, InstanceID: "iid-1", ModTime: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := seed.File(VendorDataName); string(data) != string(gz) {
		t.Error("gzip vendor-data without fixes was not written as given")
	}
	if _, err := Build(Spec{VendorData: &Source{Name: "vd", Data: []byte("nonsense\n")}, InstanceID: "iid-1"}); err == nil {
		t.Error("vendor-data with an unknown header was accepted")
	}
}

func TestExtraFiles(t *testing.T) {
	seed, err := Build(Spec{InstanceID: "iid-1", ModTime: fixedTime, Files: []ExtraFile{
		{Path: "scripts/setup.sh", Origin: "./setup.sh", Data: []byte("x")},
		{Path: "README", Origin: "r", Data: []byte("y")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if data, ok := seed.File("scripts/setup.sh"); !ok || string(data) != "x" {
		t.Errorf("scripts/setup.sh = %q, %v", data, ok)
	}
	invalid := []struct {
		files []ExtraFile
		want  string
	}{
		{[]ExtraFile{{Path: "", Origin: "x"}}, "it is empty"},
		{[]ExtraFile{{Path: "/etc/x"}}, "use a relative path"},
		{[]ExtraFile{{Path: `a\b`}}, "forward slashes"},
		{[]ExtraFile{{Path: "a/../b"}}, `remove ".", ".."`},
		{[]ExtraFile{{Path: "a//b"}}, "repeated or trailing slashes"},
		{[]ExtraFile{{Path: "user-data"}}, "replace the seed's own user-data"},
		{[]ExtraFile{{Path: "Meta-Data"}}, "replace the seed's own meta-data"},
		{[]ExtraFile{{Path: "a"}, {Path: "A"}}, "differ only in case"},
		{[]ExtraFile{{Path: "a\nb"}}, "control character"},
	}
	for _, tc := range invalid {
		_, err := Build(Spec{InstanceID: "iid-1", Files: tc.files})
		if err == nil {
			t.Errorf("extra files %+v accepted", tc.files)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("extra files %+v: error %q does not contain %q", tc.files, err, tc.want)
		}
	}
}

func TestVolumeID(t *testing.T) {
	for _, id := range []string{"", "cidata", "CIDATA"} {
		if _, err := Build(Spec{VolumeID: id, InstanceID: "iid-1"}); err != nil {
			t.Errorf("VolumeID %q rejected: %v", id, err)
		}
	}
	_, err := Build(Spec{VolumeID: "config-2", InstanceID: "iid-1"})
	if err == nil || !strings.Contains(err.Error(), `invalid volume ID "config-2"`) {
		t.Errorf("VolumeID config-2: error = %v", err)
	}
}
