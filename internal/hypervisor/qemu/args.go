package qemu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// Device ids used on the command line and in QMP commands.
const (
	cdromDeviceID = "cdrom0"
	cdromDriveID  = "cd0"
)

// platform is the QEMU machine for one guest architecture.
type platform struct {
	binary string // qemu-system-x86_64 or qemu-system-aarch64
	arch   string // architecture name in QEMU firmware descriptors
	// machine is the -machine value; machineFamily is its versioned name
	// prefix as firmware descriptors list it (pc-q35-*, virt-*).
	machine       string
	machineFamily string
	// bios reports whether the machine has BIOS firmware (SeaBIOS).
	bios bool
}

var (
	platformAMD64 = platform{binary: "qemu-system-x86_64", arch: "x86_64", machine: "q35", machineFamily: "pc-q35", bios: true}
	platformARM64 = platform{binary: "qemu-system-aarch64", arch: "aarch64", machine: "virt,gic-version=max", machineFamily: "virt", bios: false}
)

// platformFor returns the platform that runs guests of the host's
// architecture goarch, the only kind the driver runs.
func platformFor(goarch string) (platform, error) {
	switch goarch {
	case "amd64":
		return platformAMD64, nil
	case "arm64":
		return platformARM64, nil
	}
	return platform{}, fmt.Errorf("host architecture %s has no QEMU guest platform; the qemu driver supports amd64 and arm64 hosts", goarch)
}

// optValue escapes s for use as a value inside a QEMU option string such as
// "file=PATH,format=raw": QEMU reads ",," as a literal comma.
func optValue(s string) string {
	return strings.ReplaceAll(s, ",", ",,")
}

// buildArgs returns the QEMU arguments (without the binary) that run m
// detached. Every value from m sits in its own argument or, inside option
// strings, is escaped with optValue, so no path or name can add options.
func buildArgs(m *machine, p platform, accel Accel) []string {
	args := []string{
		"-name", "guest=" + optValue(m.Name),
		"-nodefaults",
		"-no-user-config",
		"-machine", p.machine,
	}
	args = append(args, accel.args()...)
	args = append(args,
		"-smp", strconv.Itoa(m.CPUs),
		"-m", strconv.FormatUint(m.MemoryBytes/hypervisor.MiB, 10),
		"-display", "none",
		"-rtc", "base=utc",
	)
	args = append(args, bootArgs(m)...)
	args = append(args,
		"-drive", "if=none,id=disk0,format=qcow2,discard=unmap,file="+optValue(m.Disk),
		"-device", diskDevice(m),
	)
	args = append(args, cdromArgs(m)...)
	args = append(args,
		"-netdev", netdevValue(m),
		"-device", "virtio-net-pci,netdev=net0,mac="+m.MAC,
		"-device", "virtio-rng-pci",
		"-chardev", "file,id=serial0,path="+optValue(m.SerialLog),
		"-serial", "chardev:serial0",
		"-chardev", "socket,id=qmp0,server=on,wait=off,path="+optValue(m.QMPSocket),
		"-mon", "chardev=qmp0,mode=control",
		"-pidfile", m.PIDFile,
		"-daemonize",
	)
	return args
}

func bootArgs(m *machine) []string {
	var args []string
	if m.UEFICode != "" {
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+optValue(m.UEFICode),
			"-drive", "if=pflash,format=raw,unit=1,file="+optValue(m.UEFIVars),
		)
	}
	if m.Boot.Kernel != "" {
		args = append(args, "-kernel", m.Boot.Kernel)
		if m.Boot.Initrd != "" {
			args = append(args, "-initrd", m.Boot.Initrd)
		}
		if m.Boot.Cmdline != "" {
			args = append(args, "-append", m.Boot.Cmdline)
		}
	}
	return args
}

// diskDevice returns the disk's -device value. For firmware boot the disk
// is the first boot device; direct kernel boot must leave boot index 0 to
// QEMU's linuxboot option ROM, or QEMU rejects the command line.
func diskDevice(m *machine) string {
	if m.Boot.Kernel != "" {
		return "virtio-blk-pci,drive=disk0"
	}
	return "virtio-blk-pci,drive=disk0,bootindex=0"
}

// cdromArgs attaches the DVD drive as a SCSI CD on virtio-scsi. The
// Debian 12 cloud kernel (linux-image-cloud-amd64 6.1) is built with
// CONFIG_SCSI_VIRTIO=m and CONFIG_BLK_DEV_SR=m but without CONFIG_SATA_AHCI,
// so it cannot see the q35 machine's built-in AHCI CD drive. virtio-scsi
// also works on the aarch64 virt machine, which has no IDE or AHCI at all.
func cdromArgs(m *machine) []string {
	drive := "if=none,id=" + cdromDriveID + ",media=cdrom,readonly=on"
	if m.ISO != "" {
		drive += ",format=raw,file=" + optValue(m.ISO)
	}
	return []string{
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", drive,
		"-device", "scsi-cd,bus=scsi0.0,drive=" + cdromDriveID + ",id=" + cdromDeviceID,
	}
}

func netdevValue(m *machine) string {
	restrict := "off"
	if m.Restrict {
		restrict = "on"
	}
	return fmt.Sprintf("user,id=net0,restrict=%s,hostfwd=tcp:127.0.0.1:%d-:%d", restrict, m.SSHHostPort, m.SSHGuestPort)
}
