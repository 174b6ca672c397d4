package template

import (
	"context"
	"path"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// shippedTemplates returns the embedded templates.
func shippedTemplates(t *testing.T) []*Template {
	t.Helper()
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	return c.Templates()
}

// adminGroups is the group that gives sudo rights on each distro family.
var adminGroups = map[string]string{
	"ubuntu": "sudo", "debian": "sudo",
	"fedora": "wheel", "rocky": "wheel", "almalinux": "wheel",
	"opensuse-leap": "wheel", "opensuse-tumbleweed": "wheel",
}

// guestTools are the packages that report the IP address to the host.
var guestTools = map[string][]string{
	"ubuntu":              {"linux-cloud-tools-virtual", "qemu-guest-agent"},
	"debian":              {"hyperv-daemons", "qemu-guest-agent"},
	"fedora":              {"hyperv-daemons", "qemu-guest-agent"},
	"rocky":               {"hyperv-daemons", "qemu-guest-agent"},
	"almalinux":           {"hyperv-daemons", "qemu-guest-agent"},
	"opensuse-leap":       {"hyper-v", "qemu-guest-agent"},
	"opensuse-tumbleweed": {"hyper-v", "qemu-guest-agent"},
}

func TestShippedTemplatesCloudInitSchema(t *testing.T) {
	requireTool(t, "cloud-init")
	for _, tmpl := range shippedTemplates(t) {
		t.Run(tmpl.Name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := ValidateTemplate(ctx, tmpl, CloudInitSchema); err != nil {
				t.Errorf("template %s is invalid:\n%v", tmpl.Name(), err)
			}
		})
	}
}

// TestCloudInitSchemaRejects proves the schema check can fail.
func TestCloudInitSchemaRejects(t *testing.T) {
	requireTool(t, "cloud-init")
	err := CloudInitSchema(context.Background(), []byte("#cloud-config\npackages: []\n"))
	if err == nil || !strings.Contains(err.Error(), "packages") {
		t.Errorf("CloudInitSchema(empty packages list) = %v, want a schema error naming packages", err)
	}
}

func TestShippedTemplatesContent(t *testing.T) {
	for _, tmpl := range shippedTemplates(t) {
		t.Run(tmpl.Name(), func(t *testing.T) {
			values := SampleValues()
			_ = values.Set(VarUsername, "alice")
			_ = values.Set(VarTimezone, "Europe/Berlin")
			_ = values.Set(VarLocale, "de_DE.UTF-8")
			_ = values.Set(VarKeyboardLayout, "de")
			r, err := tmpl.Render(values)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(r.UserData), "#cloud-config\n") {
				t.Errorf("user-data does not start with #cloud-config")
			}
			var doc map[string]any
			if err := yaml.Unmarshal(r.UserData, &doc); err != nil {
				t.Fatal(err)
			}
			checkUserData(t, tmpl, doc, r)

			var meta map[string]any
			if err := yaml.Unmarshal(r.MetaData, &meta); err != nil {
				t.Fatal(err)
			}
			if meta["instance-id"] != "i-0123456789abcdef" || meta["local-hostname"] != "sample-host" {
				t.Errorf("meta-data = %#v", meta)
			}

			if r.NetworkConfig != nil {
				checkNetworkConfig(t, r.NetworkConfig)
			}
		})
	}
}

func checkUserData(t *testing.T, tmpl *Template, doc map[string]any, r *Rendered) {
	t.Helper()
	if doc["hostname"] != "sample-host" {
		t.Errorf("hostname = %v", doc["hostname"])
	}
	if doc["timezone"] != "Europe/Berlin" || doc["locale"] != "de_DE.UTF-8" {
		t.Errorf("timezone, locale = %v, %v", doc["timezone"], doc["locale"])
	}
	users, _ := doc["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("users = %#v, want one user", doc["users"])
	}
	user := users[0].(map[string]any)
	if user["name"] != "alice" || user["sudo"] != "ALL=(ALL) NOPASSWD:ALL" || user["lock_passwd"] != true {
		t.Errorf("user = %#v", user)
	}
	keys, _ := user["ssh_authorized_keys"].([]any)
	if len(keys) != 1 || keys[0] != SampleSSHPublicKey {
		t.Errorf("ssh_authorized_keys = %#v", user["ssh_authorized_keys"])
	}
	groups, _ := user["groups"].([]any)
	if !containsValue(groups, adminGroups[tmpl.OS]) {
		t.Errorf("groups = %v, want %s", groups, adminGroups[tmpl.OS])
	}

	packages, _ := doc["packages"].([]any)
	want := guestTools[tmpl.OS]
	if len(packages) != len(want) {
		t.Errorf("packages = %v, want %v", packages, want)
	}
	for _, p := range want {
		if !containsValue(packages, p) {
			t.Errorf("packages = %v, want %s among them", packages, p)
		}
	}

	runcmd, _ := doc["runcmd"].([]any)
	if len(runcmd) == 0 || runcmd[len(runcmd)-1] != "touch /var/tmp/vmgenie-sample" {
		t.Errorf("runcmd = %#v, want the RUNCMD item last", runcmd)
	}

	// The keyboard layout reaches the guest in the way its distro supports.
	switch tmpl.OS {
	case "debian":
		if _, ok := doc["keyboard"]; ok {
			t.Error("Debian user-data uses the keyboard module")
		}
		if !strings.Contains(string(r.UserData), `XKBLAYOUT=\"de\"`) {
			t.Error("Debian user-data does not write XKBLAYOUT to /etc/default/keyboard")
		}
	case "rocky", "almalinux":
		if _, ok := doc["keyboard"]; ok {
			t.Error("Red Hat family user-data uses the keyboard module, which its cloud.cfg does not run")
		}
		first, _ := runcmd[0].([]any)
		if len(first) != 5 || first[4] != "de" {
			t.Errorf("runcmd[0] = %#v, want localectl with the layout as its own argument", runcmd[0])
		}
	default:
		keyboard, _ := doc["keyboard"].(map[string]any)
		if keyboard["layout"] != "de" {
			t.Errorf("keyboard = %#v", doc["keyboard"])
		}
	}
}

func checkNetworkConfig(t *testing.T, data []byte) {
	t.Helper()
	var network map[string]any
	if err := yaml.Unmarshal(data, &network); err != nil {
		t.Fatal(err)
	}
	if network["version"] != 2 {
		t.Errorf("network-config version = %v, want 2", network["version"])
	}
	ethernets, _ := network["ethernets"].(map[string]any)
	if len(ethernets) != 1 {
		t.Fatalf("network-config ethernets = %#v, want one entry", network["ethernets"])
	}
	for _, entry := range ethernets {
		e := entry.(map[string]any)
		match, _ := e["match"].(map[string]any)
		if match["name"] != "e*" || e["dhcp4"] != true {
			t.Errorf("ethernet entry = %#v, want DHCP on name e*", e)
		}
	}
}

func containsValue(list []any, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}

func TestShippedTemplatesEmptyPackages(t *testing.T) {
	for _, tmpl := range shippedTemplates(t) {
		t.Run(tmpl.Name(), func(t *testing.T) {
			values := SampleValues()
			_ = values.Set(VarPackages, "")
			r, err := tmpl.Render(values)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(r.UserData, &doc); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"packages", "package_update", "package_upgrade", "package_reboot_if_required"} {
				if _, ok := doc[key]; ok {
					t.Errorf("user-data has %s with PACKAGES empty:\n%s", key, r.UserData)
				}
			}
		})
	}
}

// TestShippedNetworkConfigMatchesNICNames checks the name pattern of each
// shipped network-config against the NIC names of QEMU virtio and Hyper-V.
// path.Match follows the same shell glob rules as netplan's match.name.
func TestShippedNetworkConfigMatchesNICNames(t *testing.T) {
	for _, tmpl := range shippedTemplates(t) {
		r, err := tmpl.Render(SampleValues())
		if err != nil {
			t.Fatal(err)
		}
		if r.NetworkConfig == nil {
			// Images of these releases render network config with netplan,
			// the only renderer that reads match.name globs.
			if tmpl.OS == "ubuntu" || tmpl.Name() == "debian-13" {
				t.Errorf("%s has no network-config", tmpl.Name())
			}
			continue
		}
		var network struct {
			Ethernets map[string]struct {
				Match struct{ Name string }
			}
		}
		if err := yaml.Unmarshal(r.NetworkConfig, &network); err != nil {
			t.Fatal(err)
		}
		for id, entry := range network.Ethernets {
			for _, nic := range []string{"eth0", "ens3", "enp0s3", "enp1s0"} {
				if ok, err := path.Match(entry.Match.Name, nic); err != nil || !ok {
					t.Errorf("%s: ethernets.%s match.name %q does not match NIC %s", tmpl.Name(), id, entry.Match.Name, nic)
				}
			}
			if ok, _ := path.Match(entry.Match.Name, "lo"); ok {
				t.Errorf("%s: match.name %q matches the loopback interface", tmpl.Name(), entry.Match.Name)
			}
		}
	}
}
