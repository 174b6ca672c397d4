// Package qemu is the QEMU/KVM hypervisor driver: each VM is one detached
// qemu-system-x86_64 (or qemu-system-aarch64 on arm64 hosts) process,
// started with -daemonize so it outlives the CLI and the service, and
// controlled over QMP.
//
// Each VM lives in its own instance directory, a direct child of
// Config.Root named after the VM. The driver keeps these files there:
// driver.json (its record of the VM, from which every start rebuilds the
// command line), disk.qcow2 (an overlay on the read-only base image),
// efivars.fd (UEFI only), qemu.pid, qmp.sock, qemu.log (QEMU's start-up
// messages) and serial.log. A restarted service finds running VMs again
// through the pid file and the QMP socket. A pid file whose process is
// gone, or belongs to a process that is not QEMU with that pid file, means
// the VM is off.
//
// QMP goes through github.com/digitalocean/go-qemu's qmp.SocketMonitor. Its
// calls take no context or deadline, so qmp.go bounds each one with a timer
// and drops the session on timeout. libvirt would supervise the processes,
// but it is a system daemon that vmgenie would have to install and
// configure on every host. The driver does the little supervision it needs
// itself: pid files, a check of /proc/<pid>/cmdline, signals, and retries
// when the SSH port is taken.
//
// Networking is QEMU user mode with one host forward from 127.0.0.1 to the
// guest's SSH port; Network.Restrict adds restrict=on, which cuts the guest
// off from the host's networks but keeps the forward working.
package qemu
