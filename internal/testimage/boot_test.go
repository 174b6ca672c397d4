//go:build linux

package testimage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vmgenie/vmgenie/internal/iso9660"
)

// Bounds on each wait in a boot. Under TCG on 2 cores, the guest accepted
// SSH connections after 37 s on a lightly loaded host and after 153 s while
// other builds and fuzzers kept the load average near 9, so these leave
// room for a busy CI machine.
const (
	sshTimeout       = 10 * time.Minute
	cloudInitTimeout = 10 * time.Minute
	powerOffTimeout  = 2 * time.Minute
	commandTimeout   = time.Minute
)

const (
	guestUser  = "genie"
	markerPath = "/var/tmp/vmgenie-boot-marker"
	// overlaySize is larger than the 2 GiB base image, so cloud-init's
	// resizefs module must grow the root file system to pass the test.
	overlaySize = 4 << 30
)

// fallbackDatasourceMessage is what cloud-init 22.4 prints on the console
// when it found no datasource and used DataSourceNone.
const fallbackDatasourceMessage = "Used fallback datasource"

// seedWriter writes a NoCloud seed ISO with the label cidata to path.
type seedWriter func(t *testing.T, path string, files map[string][]byte)

// TestBootWithCloudInit boots the image under QEMU with a NoCloud seed and
// checks that cloud-init configured the guest from it. The seed is made
// once with cloud-localds (genisoimage) and once with our iso9660 writer,
// whose Rock Ridge names the guest must read as "user-data" and
// "meta-data". Host keys and machine-id must differ between the boots,
// because the image carries neither.
func TestBootWithCloudInit(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: boots a VM under TCG, which takes minutes")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "cloud-localds"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/test.sh, which installs it", tool)
		}
	}
	image := Load(t)

	writers := []struct {
		name  string
		write seedWriter
	}{
		{"cloud-localds", writeSeedWithCloudLocalds},
		{"iso9660.Write", writeSeedWithISO9660},
	}
	identities := map[string]guestIdentity{}
	for _, writer := range writers {
		t.Run(writer.name, func(t *testing.T) {
			identities[writer.name] = bootAndCheck(t, image, writer.write)
		})
	}

	if len(identities) != len(writers) {
		return
	}
	first, second := identities[writers[0].name], identities[writers[1].name]
	if first.hostKey == second.hostKey {
		t.Errorf("both guests have SSH host key %s, want a new key per instance", first.hostKey)
	}
	if first.machineID == second.machineID {
		t.Errorf("both guests have machine-id %s, want a new one per instance", first.machineID)
	}
}

// guestIdentity is what must differ between two guests of the same image.
type guestIdentity struct {
	hostKey   string
	machineID string
}

func bootAndCheck(t *testing.T, image *Image, writeSeed seedWriter) guestIdentity {
	dir := t.TempDir()
	baseInfo, err := os.Stat(image.Disk)
	if err != nil {
		t.Fatal(err)
	}

	signer, authorizedKey := newGuestKey(t)
	instanceID := "iid-" + randomHex(t, 8)
	hostname := "vmgenie-boot-" + randomHex(t, 3)
	marker := randomHex(t, 16)
	userData := fmt.Sprintf(`#cloud-config
users:
  - name: %s
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys:
      - %s
runcmd:
  - [ sh, -c, "echo %s > %s" ]
`, guestUser, authorizedKey, marker, markerPath)
	metaData := fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", instanceID, hostname)
	seed := filepath.Join(dir, "seed.iso")
	writeSeed(t, seed, map[string][]byte{"user-data": []byte(userData), "meta-data": []byte(metaData)})

	overlay := filepath.Join(dir, "overlay.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", image.Format, "-b", image.Disk, overlay, strconv.Itoa(overlaySize))

	guest := startGuest(t, image, dir, overlay, seed)
	client := guest.waitForSSH(t, signer)
	defer client.Close()
	t.Logf("SSH answered %s after QEMU started", guest.sinceStart().Round(time.Second))

	guest.waitForCloudInit(t, client)
	t.Logf("cloud-init finished %s after QEMU started", guest.sinceStart().Round(time.Second))

	status := guest.output(t, client, "cloud-init status --long")
	if !strings.Contains(status, "status: done") {
		t.Errorf("cloud-init status --long:\n%s\nwant status: done", status)
	}
	checks := []struct{ command, want string }{
		{"hostname", hostname},
		{"id -un", guestUser},
		{"sudo -n id -un", "root"},
		{"cat " + markerPath, marker},
		{"cat /var/lib/cloud/data/instance-id", instanceID},
		{"findmnt -no LABEL /", "rootfs"},
	}
	for _, check := range checks {
		if got := guest.output(t, client, check.command); got != check.want {
			t.Errorf("%s = %q, want %q", check.command, got, check.want)
		}
	}
	rootSize := guest.output(t, client, "df -B1 --output=size / | tail -1")
	if size, err := strconv.ParseInt(strings.TrimSpace(rootSize), 10, 64); err != nil || size < 3<<30 {
		t.Errorf("root file system size %q, want more than 3 GiB after resizefs grew it to the %d-byte overlay", rootSize, overlaySize)
	}
	identity := guestIdentity{
		hostKey:   guest.hostKey,
		machineID: guest.output(t, client, "cat /etc/machine-id"),
	}

	guest.powerOff(t, client)
	if info, err := os.Stat(image.Disk); err != nil || !info.ModTime().Equal(baseInfo.ModTime()) {
		t.Errorf("base image %s changed during the boot (stat: %v)", image.Disk, err)
	}
	return identity
}

// guest is one running QEMU process.
type guest struct {
	cmd     *exec.Cmd
	start   time.Time
	port    int
	serial  string
	stderr  *bytes.Buffer
	exited  chan struct{}
	waitErr error
	hostKey string
}

// qemuArgs returns the QEMU command line for a TCG guest that boots the
// image's kernel directly, with the seed on a virtio-scsi CD-ROM. The
// cloud kernel has no AHCI driver, so it cannot see the CD-ROM that q35
// attaches to AHCI by default.
func qemuArgs(image *Image, overlay, seed, serialLog string, port int) []string {
	return []string{
		"-machine", "q35",
		"-accel", "tcg,thread=multi",
		"-cpu", "max",
		"-smp", "2",
		"-m", "1024",
		"-nodefaults",
		"-display", "none",
		"-no-reboot",
		"-kernel", image.Kernel,
		"-initrd", image.Initrd,
		"-append", image.Cmdline,
		"-drive", "file=" + overlay + ",format=qcow2,if=virtio",
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", "file=" + seed + ",format=raw,if=none,id=seed,media=cdrom,readonly=on",
		"-device", "scsi-cd,bus=scsi0.0,drive=seed",
		"-netdev", fmt.Sprintf("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22", port),
		"-device", "virtio-net-pci,netdev=net0",
		"-serial", "file:" + serialLog,
	}
}

func startGuest(t *testing.T, image *Image, dir, overlay, seed string) *guest {
	t.Helper()
	g := &guest{
		port:   freeLoopbackPort(t),
		serial: filepath.Join(dir, "serial.log"),
		stderr: &bytes.Buffer{},
		exited: make(chan struct{}),
	}
	g.cmd = exec.Command("qemu-system-x86_64", qemuArgs(image, overlay, seed, g.serial, g.port)...)
	g.cmd.Stdout = g.stderr
	g.cmd.Stderr = g.stderr
	g.start = time.Now()
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-g.exited:
		default:
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	})
	return g
}

func (g *guest) sinceStart() time.Duration {
	return time.Since(g.start)
}

func (g *guest) hasExited() bool {
	select {
	case <-g.exited:
		return true
	default:
		return false
	}
}

// fail ends the test with the QEMU output and the end of the serial log.
func (g *guest) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	message := fmt.Sprintf(format, args...)
	if g.hasExited() {
		message += fmt.Sprintf("\nQEMU exited: %v\n%s", g.waitErr, g.stderr.String())
	}
	t.Fatalf("%s\nlast lines of %s:\n%s", message, g.serial, tailFile(g.serial, 4000))
}

func (g *guest) waitForSSH(t *testing.T, signer ssh.Signer) *ssh.Client {
	t.Helper()
	config := &ssh.ClientConfig{
		User: guestUser,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// The host key is generated at first boot, so there is nothing to
		// check it against. It is recorded to compare between guests.
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			g.hostKey = ssh.FingerprintSHA256(key)
			return nil
		},
		Timeout: 20 * time.Second,
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port))
	deadline := time.Now().Add(sshTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if g.hasExited() {
			g.fail(t, "QEMU exited before SSH answered")
		}
		// Without the seed, cloud-init falls back to DataSourceNone and never
		// creates the user, so SSH would only time out.
		if strings.Contains(tailFile(g.serial, 1<<20), fallbackDatasourceMessage) {
			g.fail(t, "cloud-init did not find the seed ISO (serial log: %q)", fallbackDatasourceMessage)
		}
		client, err := ssh.Dial("tcp", address, config)
		if err == nil {
			return client
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	g.fail(t, "SSH on %s did not answer within %s: %v", address, sshTimeout, lastErr)
	return nil
}

func (g *guest) waitForCloudInit(t *testing.T, client *ssh.Client) {
	t.Helper()
	deadline := time.Now().Add(cloudInitTimeout)
	for time.Now().Before(deadline) {
		if g.hasExited() {
			g.fail(t, "QEMU exited before cloud-init finished")
		}
		_, err := runCommand(client, "test -e /var/lib/cloud/instance/boot-finished")
		if err == nil {
			return
		}
		var exitErr *ssh.ExitError
		if !errors.As(err, &exitErr) {
			g.fail(t, "check for /var/lib/cloud/instance/boot-finished: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
	g.fail(t, "cloud-init did not finish within %s", cloudInitTimeout)
}

// output runs command in the guest and returns its stdout without the
// trailing newline. It fails the test when the command fails.
func (g *guest) output(t *testing.T, client *ssh.Client, command string) string {
	t.Helper()
	out, err := runCommand(client, command)
	if err != nil {
		g.fail(t, "run %q in the guest: %v\n%s", command, err, out)
	}
	return strings.TrimRight(out, "\n")
}

// powerOff shuts the guest down from inside and waits for QEMU to exit.
func (g *guest) powerOff(t *testing.T, client *ssh.Client) {
	t.Helper()
	// The connection may drop before the command returns, so its error
	// means nothing. QEMU exiting is the check.
	_, _ = runCommand(client, "sudo -n systemctl poweroff")
	select {
	case <-g.exited:
		if g.waitErr != nil {
			t.Errorf("QEMU exited with %v after poweroff\n%s", g.waitErr, g.stderr.String())
		}
	case <-time.After(powerOffTimeout):
		t.Errorf("QEMU still running %s after poweroff\nlast lines of %s:\n%s", powerOffTimeout, g.serial, tailFile(g.serial, 2000))
	}
}

// runCommand runs command in a new SSH session, bounded by commandTimeout.
func runCommand(client *ssh.Client, command string) (string, error) {
	session, err := client.NewSession()
	if err != nil {
		return "", fmt.Errorf("open SSH session: %w", err)
	}
	defer session.Close()

	var stdout, stderr bytes.Buffer
	session.Stdout = &stdout
	session.Stderr = &stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(command) }()
	select {
	case err := <-done:
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	case <-time.After(commandTimeout):
		return stdout.String() + stderr.String(), fmt.Errorf("%q timed out after %s", command, commandTimeout)
	}
}

func writeSeedWithCloudLocalds(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	dir := filepath.Dir(path)
	for _, name := range []string{"user-data", "meta-data"} {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "cloud-localds", path, filepath.Join(dir, "user-data"), filepath.Join(dir, "meta-data"))
}

func writeSeedWithISO9660(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var isoFiles []iso9660.File
	for name, data := range files {
		isoFiles = append(isoFiles, iso9660.File{Path: name, Data: data})
	}
	var image bytes.Buffer
	if err := iso9660.Write(&image, isoFiles, iso9660.Options{}); err != nil {
		t.Fatalf("iso9660.Write: %v", err)
	}
	if err := os.WriteFile(path, image.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newGuestKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	public, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(private)
	if err != nil {
		t.Fatal(err)
	}
	sshPublic, err := ssh.NewPublicKey(public)
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPublic)))
}

func randomHex(t *testing.T, bytes int) string {
	t.Helper()
	buffer := make([]byte, bytes)
	if _, err := rand.Read(buffer); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buffer)
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment
// ago. QEMU fails to start if another process takes it in between.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// tailFile returns up to the last n bytes of the file at path.
func tailFile(path string, n int64) string {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	offset := max(info.Size()-n, 0)
	data, err := io.ReadAll(io.NewSectionReader(file, offset, info.Size()-offset))
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	return string(data)
}
