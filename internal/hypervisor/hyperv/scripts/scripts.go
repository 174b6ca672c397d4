// Package scripts embeds the fixed PowerShell scripts of the Hyper-V driver.
//
// The texts never change at run time: every value a script needs reaches it
// as JSON data (its $In parameter), so no user-supplied string can become
// script text. Tests compare the text each request carries with the text
// embedded here.
package scripts

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.ps1
var files embed.FS

// Script is one embedded operation script.
type Script struct {
	// Name is the file name without .ps1, such as "create-vm". Requests
	// carry it as their op.
	Name string
	// Text is the file's content.
	Text string
	// ReadOnly is true for scripts that change nothing, which the host may
	// run again after its process died during the call.
	ReadOnly bool
}

// The operation scripts.
var (
	Health            = load("health", true)
	ListSwitches      = load("list-switches", true)
	CreateVM          = load("create-vm", false)
	GetVM             = load("get-vm", true)
	ListVMs           = load("list-vms", true)
	StartVM           = load("start-vm", false)
	StopVM            = load("stop-vm", false)
	SuspendVM         = load("suspend-vm", false)
	ResumeVM          = load("resume-vm", false)
	DiscardSavedState = load("discard-saved-state", false)
	DeleteVM          = load("delete-vm", false)
	SwapISO           = load("swap-iso", false)
	VMAddresses       = load("vm-addresses", true)
)

// runnerFiles are the files that are not operation scripts.
var runnerFiles = map[string]bool{"lib.ps1": true, "host.ps1": true, "oneshot.ps1": true}

var byName = map[string]Script{}

func load(name string, readOnly bool) Script {
	s := Script{Name: name, Text: mustRead(name + ".ps1"), ReadOnly: readOnly}
	byName[name] = s
	return s
}

func mustRead(file string) string {
	data, err := files.ReadFile(file)
	if err != nil {
		panic(fmt.Sprintf("scripts: embedded file %s is missing: %v", file, err))
	}
	return string(data)
}

// Lookup returns the operation script called name.
func Lookup(name string) (Script, bool) {
	s, ok := byName[name]
	return s, ok
}

// Operations returns every operation script, sorted by name.
func Operations() []Script {
	out := make([]Script, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// HostProgram returns the program of the long-lived powershell.exe process:
// the shared functions followed by the request loop.
func HostProgram() string { return mustRead("lib.ps1") + "\n" + mustRead("host.ps1") }

// OneShotProgram returns the program of a powershell.exe process that runs
// one request: the shared functions followed by the one-request runner.
func OneShotProgram() string { return mustRead("lib.ps1") + "\n" + mustRead("oneshot.ps1") }

// Files returns the content of every embedded file, runners included,
// keyed by file name.
func Files() map[string]string {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(fmt.Sprintf("scripts: reading the embedded directory failed: %v", err))
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		out[e.Name()] = mustRead(e.Name())
	}
	return out
}

// IsRunner reports whether file is one of the runner files rather than an
// operation script.
func IsRunner(file string) bool { return runnerFiles[strings.ToLower(file)] }
