package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/vmgenie/vmgenie/internal/api"
	"github.com/vmgenie/vmgenie/internal/guest"
	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// sshReady makes sure the VM runs and its SSH server accepts connections,
// and returns how to reach it. It starts a VM that is off and resumes a paused one.
func sshReady(ctx context.Context, a *app, target serviceFlags, name string, timeout time.Duration) (api.SSHInfo, guest.Target, error) {
	var info api.SSHInfo
	if err := callService(ctx, target, "vm.ssh_info", map[string]any{"name": name}, &info); err != nil {
		return info, guest.Target{}, err
	}
	switch hypervisor.State(info.State) {
	case hypervisor.StateOff, hypervisor.StateSaved:
		fmt.Fprintf(a.stderr, "Starting %s...\n", name)
		if err := callService(ctx, target, "vm.start", map[string]any{"name": name}, nil); err != nil {
			return info, guest.Target{}, err
		}
	case hypervisor.StatePaused:
		fmt.Fprintf(a.stderr, "Resuming %s...\n", name)
		if err := callService(ctx, target, "vm.resume", map[string]any{"name": name}, nil); err != nil {
			return info, guest.Target{}, err
		}
	}
	if err := callService(ctx, target, "vm.ssh_info", map[string]any{"name": name}, &info); err != nil {
		return info, guest.Target{}, err
	}
	if info.Port == 0 {
		return info, guest.Target{}, fmt.Errorf("VM %q has no SSH address yet; check \"vmgenie details %s\"", name, name)
	}
	keyData, err := os.ReadFile(info.PrivateKeyPath)
	if err != nil {
		return info, guest.Target{}, fmt.Errorf("read the SSH key of %q: %w; run this command as the user that runs the service, or as root", name, err)
	}
	signer, err := ssh.ParsePrivateKey(keyData)
	if err != nil {
		return info, guest.Target{}, fmt.Errorf("parse SSH key %s: %w", info.PrivateKeyPath, err)
	}
	hostKey, err := readPinnedHostKey(info.KnownHostsPath)
	if err != nil {
		return info, guest.Target{}, err
	}
	gt := guest.Target{
		Name: name, Address: hypervisor.Endpoint{Host: info.Host, Port: info.Port}.String(),
		User: info.User, Signer: signer, HostKey: hostKey,
	}
	// Try once first, and print that we wait only when the guest is still
	// booting.
	firstCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	client, err := guest.Dial(firstCtx, gt)
	cancel()
	if err != nil {
		fmt.Fprintf(a.stderr, "Waiting for SSH on %s (%s)...\n", name, gt.Address)
		client, err = guest.WaitSSH(ctx, gt, timeout, a.log())
		if err != nil {
			return info, gt, err
		}
	}
	client.Close()
	return info, gt, nil
}

// readPinnedHostKey reads the host key that provisioning recorded.
func readPinnedHostKey(path string) (ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the pinned host key: %w", err)
	}
	_, _, key, _, _, err := ssh.ParseKnownHosts(data)
	if err != nil {
		return nil, fmt.Errorf("parse the pinned host key in %s: %w", path, err)
	}
	return key, nil
}

func newConnectCommand(a *app) *cobra.Command {
	var target serviceFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "connect NAME [-- SSH-ARGS...]",
		Short: "Open an interactive SSH session to a VM, starting it if needed",
		Long: `Open an interactive SSH session with the system's ssh client, the VM's own key
and the host key pinned at provisioning. A VM that is off is started and a
paused one resumed first. Arguments after -- go to ssh after the host:
ssh options, a remote command, or both.`,
		Example: `  vmgenie connect demo
  vmgenie connect demo -- -o BatchMode=yes uname -a`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeVMNames(&target),
		RunE: func(cmd *cobra.Command, args []string) error {
			sshPath, err := exec.LookPath("ssh")
			if err != nil {
				return errors.New("the ssh client was not found on PATH; install OpenSSH (Debian: apt-get install openssh-client), or use \"vmgenie exec\"")
			}
			info, _, err := sshReady(cmd.Context(), a, target, args[0], timeout)
			if err != nil {
				return err
			}
			keyPath, removeKey, err := sshClientKey(info.Name, info.PrivateKeyPath)
			if err != nil {
				return err
			}
			defer removeKey()
			sshArgs := []string{
				"-i", keyPath, "-p", strconv.Itoa(info.Port),
				"-o", "IdentitiesOnly=yes",
				"-o", "UserKnownHostsFile=" + info.KnownHostsPath,
				"-o", "StrictHostKeyChecking=yes",
				"-o", "HostKeyAlgorithms=ssh-ed25519",
				"-l", info.User,
			}
			// OpenSSH reads options after the destination too, so the user's
			// arguments may be options, a remote command, or both.
			sshArgs = append(sshArgs, info.Host)
			sshArgs = append(sshArgs, args[1:]...)
			ssh := exec.Command(sshPath, sshArgs...)
			ssh.Stdin, ssh.Stdout, ssh.Stderr = a.stdin, a.stdout, a.stderr
			// ssh handles Ctrl-C itself; keep it from ending vmgenie first.
			signals := make(chan os.Signal, 1)
			signal.Notify(signals, os.Interrupt)
			defer signal.Stop(signals)
			err = ssh.Run()
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				return &exitCodeError{code: exitErr.ExitCode()}
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for SSH when the VM is booting")
	target.register(cmd)
	return cmd
}

func newExecCommand(a *app) *cobra.Command {
	var target serviceFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "exec NAME -- COMMAND [ARGS...]",
		Short: "Run a command in a VM over SSH and exit with its exit code",
		Long: `Run a command in a VM over SSH. Each argument reaches the guest's shell quoted,
as one word, so spaces and quotes in arguments are kept. Standard input,
output and error are passed through, and vmgenie exits with the command's
exit code. A VM that is off is started, and a paused one resumed, first.`,
		Example: `  vmgenie exec demo -- hostname
  vmgenie exec demo -- sh -c 'cloud-init status --long'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return errors.New("missing the command to run: vmgenie exec NAME -- COMMAND [ARGS...]")
			}
			return nil
		},
		ValidArgsFunction: completeVMNames(&target),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("put -- between the VM name and the command: vmgenie exec %s -- %s", args[0], strings.Join(args[1:], " "))
			}
			ctx := cmd.Context()
			_, gt, err := sshReady(ctx, a, target, args[0], timeout)
			if err != nil {
				return err
			}
			client, err := guest.Dial(ctx, gt)
			if err != nil {
				return fmt.Errorf("connect to %q: %w", args[0], err)
			}
			defer client.Close()
			session, err := client.NewSession()
			if err != nil {
				return fmt.Errorf("open an SSH session to %q: %w", args[0], err)
			}
			defer session.Close()
			session.Stdout, session.Stderr = a.stdout, a.stderr
			if stdin, ok := a.stdin.(*os.File); !ok || !isTerminal(stdin) {
				session.Stdin = a.stdin
			} else {
				session.Stdin = strings.NewReader("")
			}
			err = session.Run(shellQuote(args[1:]))
			var exitErr *ssh.ExitError
			if errors.As(err, &exitErr) {
				return &exitCodeError{code: exitErr.ExitStatus()}
			}
			if err != nil {
				return fmt.Errorf("run the command in %q: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for SSH when the VM is booting")
	target.register(cmd)
	return cmd
}

// shellQuote joins args into one command line for the guest's POSIX shell,
// quoting every argument that is not made of safe characters only.
func shellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, arg := range args {
		quoted[i] = quoteWord(arg)
	}
	return strings.Join(quoted, " ")
}

func quoteWord(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isTerminal reports whether f is a character device such as a terminal.
func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
