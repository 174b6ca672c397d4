// Package hyperv is the Hyper-V hypervisor driver. It drives Hyper-V
// through the Hyper-V PowerShell module: fixed scripts embedded in package
// scripts, run by package pshost in a long-lived powershell.exe, with every
// input passed as JSON data and never as script text.
//
// Each VM has an instance directory, a direct child of Config.Root named
// after the VM. The driver keeps four things there:
//   - hyperv.json, its record of the VM (the Hyper-V VM Id, the disk, the
//     COM1 pipe);
//   - disk.vhdx, a differencing disk on the read-only base image;
//   - hyperv/, the directory given to New-VM -Path, where Hyper-V keeps the
//     VM's configuration;
//   - serial.log, the COM1 output, captured from a named pipe on Windows.
//
// Operations address the VM by its Hyper-V Id, because Hyper-V names are
// wildcard patterns in its cmdlets and may repeat.
//
// The scripts report facts and perform one step each; the decisions (state
// rules, switch choice, address preference, health verdicts) are made in Go,
// where tests on any platform cover them against the Go double in package
// hypervtest. We wrote this driver on the PowerShell module rather than on
// Hyper-V's WMI classes through a COM binding, because the module is the
// interface Microsoft documents for these tasks, and its behaviour is what
// administrators can reproduce by hand.
package hyperv
