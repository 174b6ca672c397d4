//go:build linux

package main

import (
	"slices"
	"strings"
	"testing"
)

func TestBaselineArgsRewrite(t *testing.T) {
	vmgenie := []string{
		"qemu-system-x86_64", "-name", "guest=bench-1", "-accel", "tcg,thread=multi",
		"-drive", "if=none,id=disk0,format=qcow2,discard=unmap,file=/d/cloud/bench-1/disk.qcow2",
		"-drive", "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=/d/cloud/bench-1/seed.iso",
		"-kernel", "/d/images/debian-12/vmlinuz",
		"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40001-:22",
		"-pidfile", "/d/cloud/bench-1/qemu.pid", "-daemonize",
	}
	got, err := baselineArgs(vmgenie, "/d/cloud/bench-1", "/w/base-1", 40555, "baseline-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"qemu-system-x86_64", "-name", "guest=baseline-1", "-accel", "tcg,thread=multi",
		"-drive", "if=none,id=disk0,format=qcow2,discard=unmap,file=/w/base-1/disk.qcow2",
		"-drive", "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=/w/base-1/seed.iso",
		"-kernel", "/d/images/debian-12/vmlinuz",
		"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40555-:22",
		"-pidfile", "/w/base-1/qemu.pid", "-daemonize",
	}
	if !slices.Equal(got, want) {
		t.Errorf("baselineArgs =\n%q\nwant\n%q", got, want)
	}
}

func TestBaselineArgsRejects(t *testing.T) {
	tests := []struct {
		name   string
		netdev []string
		want   string
	}{
		{"unrestricted network", []string{"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40001-:22"}, "restrict=on"},
		{"restrict off", []string{"-netdev", "user,id=net0,restrict=off,hostfwd=tcp:127.0.0.1:40001-:22"}, "restrict=on"},
		{"tap network", []string{"-netdev", "tap,id=net0,restrict=on"}, "restrict=on"},
		{"forward on all addresses", []string{"-netdev", "user,id=net0,restrict=on,hostfwd=tcp::40001-:22"}, "127.0.0.1"},
		{"no netdev", nil, "want 1"},
		{"two netdevs", []string{
			"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40001-:22",
			"-netdev", "user,id=net1,restrict=on,hostfwd=tcp:127.0.0.1:40002-:22",
		}, "want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"qemu-system-x86_64", "-pidfile", "/d/cloud/vm/qemu.pid"}, tt.netdev...)
			_, err := baselineArgs(args, "/d/cloud/vm", "/w/base", 40555, "baseline")
			if err == nil {
				t.Fatalf("baselineArgs accepted %q", tt.netdev)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
