package qemu

import (
	"slices"
	"strings"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

func testMachine() *machine {
	return &machine{
		Version:      stateVersion,
		Name:         "demo",
		Dir:          "/var/lib/vmgenie/cloud/demo",
		CPUs:         2,
		MemoryBytes:  1024 * hypervisor.MiB,
		Disk:         "/var/lib/vmgenie/cloud/demo/disk.qcow2",
		Boot:         hypervisor.Boot{Firmware: hypervisor.FirmwareBIOS},
		ISO:          "/var/lib/vmgenie/cloud/demo/seed.iso",
		Restrict:     true,
		MAC:          "52:54:00:12:34:56",
		SSHHostPort:  2222,
		SSHGuestPort: 22,
		SerialLog:    "/var/lib/vmgenie/cloud/demo/serial.log",
		QMPSocket:    "/var/lib/vmgenie/cloud/demo/qmp.sock",
		PIDFile:      "/var/lib/vmgenie/cloud/demo/qemu.pid",
		LogFile:      "/var/lib/vmgenie/cloud/demo/qemu.log",
	}
}

func TestBuildArgsFirmwareBoot(t *testing.T) {
	got := buildArgs(testMachine(), platformAMD64, AccelTCG)
	want := []string{
		"-name", "guest=demo",
		"-nodefaults",
		"-no-user-config",
		"-machine", "q35",
		"-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", "2",
		"-m", "1024",
		"-display", "none",
		"-rtc", "base=utc",
		"-drive", "if=none,id=disk0,format=qcow2,discard=unmap,file=/var/lib/vmgenie/cloud/demo/disk.qcow2",
		"-device", "virtio-blk-pci,drive=disk0,bootindex=0",
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=/var/lib/vmgenie/cloud/demo/seed.iso",
		"-device", "scsi-cd,bus=scsi0.0,drive=cd0,id=cdrom0",
		"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
		"-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56",
		"-device", "virtio-rng-pci",
		"-chardev", "file,id=serial0,path=/var/lib/vmgenie/cloud/demo/serial.log",
		"-serial", "chardev:serial0",
		"-chardev", "socket,id=qmp0,server=on,wait=off,path=/var/lib/vmgenie/cloud/demo/qmp.sock",
		"-mon", "chardev=qmp0,mode=control",
		"-pidfile", "/var/lib/vmgenie/cloud/demo/qemu.pid",
		"-daemonize",
	}
	if !slices.Equal(got, want) {
		t.Errorf("buildArgs:\n got %q\nwant %q", got, want)
	}
}

func TestBuildArgsDirectKernelBoot(t *testing.T) {
	m := testMachine()
	m.Boot = hypervisor.Boot{Kernel: "/img/vmlinuz", Initrd: "/img/initrd.img", Cmdline: "root=LABEL=rootfs console=ttyS0"}
	got := buildArgs(m, platformAMD64, AccelKVM)
	wantSeq := [][]string{
		{"-accel", "kvm", "-cpu", "host"},
		{"-kernel", "/img/vmlinuz", "-initrd", "/img/initrd.img", "-append", "root=LABEL=rootfs console=ttyS0"},
		{"-device", "virtio-blk-pci,drive=disk0"},
	}
	for _, seq := range wantSeq {
		if !containsSeq(got, seq) {
			t.Errorf("buildArgs = %q, want it to contain %q", got, seq)
		}
	}
	if slices.Contains(got, "if=pflash,format=raw,unit=0,readonly=on,file=") {
		t.Errorf("buildArgs adds UEFI flash for direct kernel boot: %q", got)
	}
}

func TestBuildArgsKernelWithoutInitrd(t *testing.T) {
	m := testMachine()
	m.Boot = hypervisor.Boot{Kernel: "/img/vmlinuz"}
	got := buildArgs(m, platformAMD64, AccelTCG)
	if !containsSeq(got, []string{"-kernel", "/img/vmlinuz", "-drive"}) {
		t.Errorf("buildArgs = %q, want -kernel without -initrd and -append", got)
	}
}

func TestBuildArgsUEFI(t *testing.T) {
	m := testMachine()
	m.Boot.Firmware = hypervisor.FirmwareUEFI
	m.UEFICode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	m.UEFIVars = "/var/lib/vmgenie/cloud/demo/efivars.fd"
	got := buildArgs(m, platformAMD64, AccelTCG)
	want := []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
		"-drive", "if=pflash,format=raw,unit=1,file=/var/lib/vmgenie/cloud/demo/efivars.fd",
	}
	if !containsSeq(got, want) {
		t.Errorf("buildArgs = %q, want it to contain %q", got, want)
	}
}

func TestBuildArgsEmptyCDAndOpenNetwork(t *testing.T) {
	m := testMachine()
	m.ISO = ""
	m.Restrict = false
	got := buildArgs(m, platformAMD64, AccelTCG)
	if !containsSeq(got, []string{"-drive", "if=none,id=cd0,media=cdrom,readonly=on"}) {
		t.Errorf("buildArgs = %q, want an empty CD drive", got)
	}
	if !containsSeq(got, []string{"-netdev", "user,id=net0,restrict=off,hostfwd=tcp:127.0.0.1:2222-:22"}) {
		t.Errorf("buildArgs = %q, want restrict=off", got)
	}
}

func TestBuildArgsARM64(t *testing.T) {
	got := buildArgs(testMachine(), platformARM64, AccelHVF)
	if !containsSeq(got, []string{"-machine", "virt,gic-version=max", "-accel", "hvf", "-cpu", "host"}) {
		t.Errorf("buildArgs = %q, want the virt machine with hvf", got)
	}
}

// TestBuildArgsEscapesCommas checks that a comma in a path cannot end the
// option value and add options of its own.
func TestBuildArgsEscapesCommas(t *testing.T) {
	m := testMachine()
	m.Name = "a,b"
	m.Disk = "/data/x,readonly=off/disk.qcow2"
	m.ISO = "/data/seed,if=floppy.iso"
	m.SerialLog = "/data/s,append=on.log"
	m.QMPSocket = "/data/q,server=off.sock"
	m.Boot = hypervisor.Boot{Kernel: "/k,1", Cmdline: "a,b c"}
	got := strings.Join(buildArgs(m, platformAMD64, AccelTCG), "\n")
	for _, want := range []string{
		"guest=a,,b\n",
		"file=/data/x,,readonly=off/disk.qcow2\n",
		"file=/data/seed,,if=floppy.iso\n",
		"path=/data/s,,append=on.log\n",
		"path=/data/q,,server=off.sock\n",
		// -kernel and -append take their value as a whole argument.
		"-kernel\n/k,1\n",
		"-append\na,b c\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("arguments lack %q:\n%s", want, got)
		}
	}
}

func TestPlatformFor(t *testing.T) {
	for goarch, binary := range map[string]string{"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"} {
		p, err := platformFor(goarch)
		if err != nil {
			t.Errorf("platformFor(%s): %v", goarch, err)
		}
		if p.binary != binary {
			t.Errorf("platformFor(%s).binary = %s, want %s", goarch, p.binary, binary)
		}
	}
	if _, err := platformFor("riscv64"); err == nil {
		t.Error("platformFor(riscv64) succeeded, want an error")
	}
}

func containsSeq(args, seq []string) bool {
	for i := 0; i+len(seq) <= len(args); i++ {
		if slices.Equal(args[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}
