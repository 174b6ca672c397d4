//go:build windows

package qemu

import (
	"errors"
	"syscall"
)

// errWindows is the reason the driver starts no VMs on Windows, where vmgenie
// uses Hyper-V.
var errWindows = errors.New("the qemu driver runs VMs on Linux and macOS only; use the hyperv driver on Windows")

func detachedAttr() *syscall.SysProcAttr { return nil }

func processAlive(int) bool { return false }

func isQEMUFor(int, string) bool { return false }

func killProcess(int) error { return errWindows }

func canRun() error { return errWindows }
