package provision

import (
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// KnownHostsFile is the OpenSSH known_hosts file in an instance directory
// that pins the guest's host key for "vmgenie connect".
const KnownHostsFile = "known_hosts"

// hostKeyCloudConfig returns a cloud-config part that installs key as the
// guest's ed25519 SSH host key (cloud-init's ssh_keys). vmgenie generates
// the key, so it checks the guest's identity on the first connection
// instead of trusting whatever listens on the port.
func hostKeyCloudConfig(key ed25519.PrivateKey) ([]byte, error) {
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return nil, fmt.Errorf("encode SSH host key: %w", err)
	}
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("encode SSH host public key: %w", err)
	}
	doc := map[string]any{
		"ssh_keys": map[string]string{
			"ed25519_private": string(pem.EncodeToMemory(block)),
			"ed25519_public":  strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		},
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode host key cloud-config: %w", err)
	}
	return append([]byte("#cloud-config\n"), body...), nil
}

// writeKnownHosts writes the known_hosts line for the endpoint.
func writeKnownHosts(path string, endpoint hypervisor.Endpoint, key ssh.PublicKey) error {
	host := endpoint.Host
	if endpoint.Port != 22 {
		host = fmt.Sprintf("[%s]:%d", endpoint.Host, endpoint.Port)
	}
	line := host + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n"
	return atomicfile.WriteFile(path, []byte(line), 0o600)
}

// RewriteKnownHosts points an instance's known_hosts line at a new
// endpoint, keeping the pinned key.
func RewriteKnownHosts(path string, endpoint hypervisor.Endpoint) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return fmt.Errorf("%s has no host key line; delete and provision the instance again", path)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(fields[1] + " " + fields[2]))
	if err != nil {
		return fmt.Errorf("parse the host key in %s: %w", path, err)
	}
	return writeKnownHosts(path, endpoint, key)
}
