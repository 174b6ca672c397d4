package instance

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/vmgenie/vmgenie/internal/atomicfile"
)

// GenerateKeyPair writes a fresh ed25519 key pair for the instance:
// <name>.pem (OpenSSH private key, mode 0600) and <name>.pub (an
// authorized_keys line). It returns the public key line.
func (s *Store) GenerateKeyPair(name string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate SSH key for %q: %w", name, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "vmgenie "+name)
	if err != nil {
		return "", fmt.Errorf("encode SSH private key for %q: %w", name, err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode SSH public key for %q: %w", name, err)
	}
	line := string(ssh.MarshalAuthorizedKey(sshPub))
	line = line[:len(line)-1] + " vmgenie-" + name + "\n"
	if err := atomicfile.WriteFile(s.PrivateKeyPath(name), pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(s.PublicKeyPath(name), []byte(line), 0o644); err != nil {
		return "", err
	}
	return line[:len(line)-1], nil
}

// Signer loads the instance's private key for an SSH client.
func (s *Store) Signer(name string) (ssh.Signer, error) {
	path := s.PrivateKeyPath(name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SSH key of %q: %w", name, err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse SSH key %s: %w", path, err)
	}
	return signer, nil
}
