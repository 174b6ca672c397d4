// Package powershell_test checks the VmGenie PowerShell module against the
// service it talks to. No PowerShell runs here, so these tests hold the
// module's text to the service's command schemas and response types. Every
// command and parameter that the module sends must exist in the service.
// Every response field that it reads must be one that the service writes. The request lines themselves, in the form that
// ConvertTo-Json writes them, are sent over a real pipe by
// TestPipeRequestsOfPowerShell in internal/service.
package powershell_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vmgenie/vmgenie/internal/api"
	"github.com/vmgenie/vmgenie/internal/hypervisor/qemu"
	"github.com/vmgenie/vmgenie/internal/image"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/service"
)

const modulePath = "VmGenie/VmGenie.psm1"

// moduleRequests lists, per command, the parameters that the module's
// cmdlets send. A change to the module's requests belongs here too.
var moduleRequests = map[string][]string{
	"status":        nil,
	"vm.list":       nil,
	"vm.get":        {"name"},
	"vm.start":      {"name"},
	"vm.stop":       {"name", "force", "timeout_seconds"},
	"vm.pause":      {"name"},
	"vm.resume":     {"name"},
	"vm.delete":     {"name", "force"},
	"vm.ssh_info":   {"name"},
	"template.list": nil,
	"provision": {"template", "vm_name", "image", "cpus", "memory_mib", "disk_gib", "vars",
		"user_data", "user_data_name", "ssh_timeout_seconds", "cloud_init_timeout_seconds"},
}

// serviceCommands returns the commands of a service with every command
// registered, as "vmgenie serve" builds it with a hypervisor driver.
func serviceCommands(t *testing.T) map[string]protocol.Command {
	t.Helper()
	dir := t.TempDir()
	store, err := instance.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	images, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	driver, err := qemu.New(qemu.Config{Root: store.Root()})
	if err != nil {
		t.Fatal(err)
	}
	commands := api.New(api.Config{Store: store, Images: images, Driver: driver})
	srv := service.New(service.Options{Provisioner: commands.Provisioner(), Driver: "qemu"})
	if err := commands.Register(srv); err != nil {
		t.Fatal(err)
	}
	byName := map[string]protocol.Command{}
	for _, c := range srv.Commands() {
		byName[c.Name] = c
	}
	return byName
}

func readModule(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(modulePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestModuleRequestsMatchService(t *testing.T) {
	commands := serviceCommands(t)
	module := readModule(t)
	for command, params := range moduleRequests {
		cmd, ok := commands[command]
		if !ok {
			t.Errorf("the module sends %q, which the service does not have", command)
			continue
		}
		if !strings.Contains(module, "'"+command+"'") {
			t.Errorf("%s does not send %q any more: update moduleRequests", modulePath, command)
		}
		for _, name := range params {
			if !slices.ContainsFunc(cmd.Params, func(p protocol.Param) bool { return p.Name == name }) {
				t.Errorf("the module sends parameter %q to %q, which declares no such parameter", name, command)
			}
			if !strings.Contains(module, name) {
				t.Errorf("%s does not mention parameter %q of %q any more: update moduleRequests", modulePath, name, command)
			}
		}
		for _, p := range cmd.Params {
			if p.Required && !slices.Contains(params, p.Name) {
				t.Errorf("%q requires parameter %q, which the module does not send", command, p.Name)
			}
		}
	}
}

// TestModuleSendsOnlyKnownCommands finds every command name in the module's
// -Command arguments and lifecycle calls and checks it against
// moduleRequests, so that a new request cannot skip the check above.
func TestModuleSendsOnlyKnownCommands(t *testing.T) {
	module := readModule(t)
	pattern := regexp.MustCompile(`-Command '([a-z_.]+)'|\$wake = '([a-z_.]+)'`)
	found := map[string]bool{}
	for _, m := range pattern.FindAllStringSubmatch(module, -1) {
		found[m[1]+m[2]] = true
	}
	if len(found) == 0 {
		t.Fatalf("found no command names in %s", modulePath)
	}
	for command := range found {
		if _, ok := moduleRequests[command]; !ok {
			t.Errorf("%s sends %q, which moduleRequests does not list", modulePath, command)
		}
	}
}

// jsonFields returns the JSON names of the fields of a struct type,
// including embedded structs.
func jsonFields(typ reflect.Type) []string {
	var names []string
	for i := range typ.NumField() {
		field := typ.Field(i)
		if field.Anonymous {
			ft := field.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			names = append(names, jsonFields(ft)...)
			continue
		}
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// TestModuleReadsServiceFields checks the response fields that the module
// reads by name against the Go types the service encodes.
func TestModuleReadsServiceFields(t *testing.T) {
	module := readModule(t)
	tests := []struct {
		value  any
		fields []string
	}{
		{api.SSHInfo{}, []string{"user", "host", "port", "private_key_path", "known_hosts_path", "state"}},
		{api.TemplateInfo{}, []string{"name", "os", "version"}},
		{api.VMInfo{}, []string{"name", "state"}},
		{protocol.Progress{}, []string{"stage", "message", "percent"}},
		{protocol.Error{}, []string{"code", "message"}},
	}
	for _, tt := range tests {
		typ := reflect.TypeOf(tt.value)
		have := jsonFields(typ)
		for _, field := range tt.fields {
			if !slices.Contains(have, field) {
				t.Errorf("the module reads %q of %s, which has only %v", field, typ, have)
			}
			if !strings.Contains(module, "."+field) && !strings.Contains(module, "'"+field+"'") {
				t.Errorf("%s does not read %q any more: update this test", modulePath, field)
			}
		}
	}
}

// TestModuleManifestLists checks that the manifest names the module file
// and exports what the module exports. tools/psparse/module.js checks the
// same with a PowerShell parser; this test runs with go test alone.
func TestModuleManifestLists(t *testing.T) {
	manifest, err := os.ReadFile(filepath.Join("VmGenie", "VmGenie.psd1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "RootModule           = 'VmGenie.psm1'") {
		t.Errorf("the manifest does not name VmGenie.psm1 as its RootModule")
	}
	exported := regexp.MustCompile(`'((?:Invoke|Get|New|Start|Stop|Suspend|Resume|Remove|Connect)-[A-Za-z]+)'`).FindAllStringSubmatch(string(manifest), -1)
	if len(exported) != 11 {
		t.Errorf("the manifest exports %d functions, want 11: %v", len(exported), exported)
	}
	module := readModule(t)
	for _, m := range exported {
		if !strings.Contains(module, "function "+m[1]+" {") {
			t.Errorf("the manifest exports %s, which %s does not define", m[1], modulePath)
		}
	}
}

// TestModuleParameterJSON validates parameters as ConvertTo-Json writes
// them for the module's cmdlets against the service's schemas. It also
// shows why the module casts switches to [bool]: Windows PowerShell 5.1
// writes a [switch] as {"IsPresent": true}, which the service rejects.
func TestModuleParameterJSON(t *testing.T) {
	commands := serviceCommands(t)
	tests := []struct {
		command string
		params  string
		valid   bool
	}{
		{"vm.stop", `{"name":"web-1","force":true,"timeout_seconds":30}`, true},
		{"vm.stop", `{"name":"web-1","force":{"IsPresent":true}}`, false},
		{"vm.delete", `{"name":"web-1","force":false}`, true},
		{"vm.get", `{"name":"web-1"}`, true},
		{"provision", `{"template":"ubuntu-24.04","vm_name":"web-1","cpus":4,"memory_mib":4096,"disk_gib":20,` +
			`"vars":["TIMEZONE=Europe/Warsaw"],"user_data":"#cloud-config\n","user_data_name":"C:\\web.yaml",` +
			`"ssh_timeout_seconds":300,"cloud_init_timeout_seconds":900,"image":"ubuntu-24.04"}`, true},
		{"provision", `{"template":"ubuntu\u002d24.04","vm_name":"web\u002d1"}`, true},
		{"provision", `{"template":"ubuntu-24.04","vm_name":"web-1","cpus":"4"}`, false},
		{"status", `{}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.command+" "+tt.params, func(t *testing.T) {
			var params map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.params), &params); err != nil {
				t.Fatal(err)
			}
			_, perr := commands[tt.command].Validate(params)
			if (perr == nil) != tt.valid {
				t.Errorf("Validate(%s) = %v, want valid %v", tt.params, perr, tt.valid)
			}
		})
	}
	if !strings.Contains(readModule(t), "force = [bool] $Force") {
		t.Errorf("%s does not send force as [bool] $Force", modulePath)
	}
}
