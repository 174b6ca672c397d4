package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/api"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/provision"
	"github.com/vmgenie/vmgenie/internal/template"
)

func init() {
	commandFactories = append(commandFactories,
		newProvisionCommand, newListCommand, newDetailsCommand,
		newStartCommand, newStopCommand, newPauseCommand, newResumeCommand, newDeleteCommand,
		newAddressCommand, newSwapISOCommand, newConnectCommand, newExecCommand)
}

// callService sends one request and decodes the data of an ok response into
// out, when out is not nil.
func callService(ctx context.Context, target serviceFlags, command string, params map[string]any, out any) error {
	if params == nil {
		params = map[string]any{}
	}
	resp, err := target.client().Call(ctx, command, params)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return fmt.Errorf("decode the %s response: %w; response data: %s", command, err, resp.Data)
	}
	return nil
}

// completeVMNames completes VM names from the service; it completes nothing
// when the service is not running.
func completeVMNames(target *serviceFlags) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
		defer cancel()
		var list struct {
			VMs []api.VMInfo `json:"vms"`
		}
		if callService(ctx, *target, "vm.list", nil, &list) != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, 0, len(list.VMs))
		for _, vm := range list.VMs {
			names = append(names, vm.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// parseSize reads a size such as "2048", "512M", "2G" or "2GiB" and returns
// it in units of unit bytes. A bare number is already in units.
func parseSize(flag, text string, unit int64) (int, error) {
	s := strings.TrimSpace(strings.ToUpper(text))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "IB"), "B")
	multiplier := unit
	switch {
	case strings.HasSuffix(s, "M"):
		multiplier, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		multiplier, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "T"):
		multiplier, s = 1<<40, strings.TrimSuffix(s, "T")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid --%s %q: use a positive whole number with an optional unit, such as %s", flag, text,
			map[int64]string{1 << 20: "2G or 512M", 1 << 30: "20G"}[unit])
	}
	bytes := n * multiplier
	if bytes%unit != 0 {
		return 0, fmt.Errorf("invalid --%s %q: use whole %s, such as %s", flag, text,
			map[int64]string{1 << 20: "MiB", 1 << 30: "GiB"}[unit], map[int64]string{1 << 20: "512M", 1 << 30: "20G"}[unit])
	}
	return int(bytes / unit), nil
}

type provisionFlags struct {
	target           serviceFlags
	osName           string
	version          string
	template         string
	image            string
	cpus             int
	memory           string
	disk             string
	userData         string
	vars             []string
	sshTimeout       time.Duration
	cloudInitTimeout time.Duration
	output           outputFlag
}

func newProvisionCommand(a *app) *cobra.Command {
	var f provisionFlags
	cmd := &cobra.Command{
		Use:   "provision NAME --os OS --version VERSION",
		Short: "Create a VM from a template and a base image, start it and wait for cloud-init",
		Long: `Create a VM from an OS template and a base image, start it, and wait until
SSH answers and cloud-init has finished. Progress is shown as it happens.

The VM gets a fresh SSH key pair; "vmgenie connect NAME" logs in with it.
If the command is interrupted, the service goes on provisioning; follow it
with "vmgenie call operation.get --param operation_id=ID --stream" or stop
it with "vmgenie call operation.cancel --param operation_id=ID".`,
		Example: `  vmgenie provision demo --os debian --version 12
  vmgenie provision web-1 --template ubuntu-24.04 --cpus 4 --memory 4G --disk 20G \
      --var TIMEZONE=Europe/Warsaw --user-data ./web.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProvision(cmd.Context(), a, &f, args[0])
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&f.osName, "os", "", "OS of the template, such as debian or ubuntu")
	flags.StringVar(&f.version, "version", "", "OS version of the template, such as 12 or 24.04")
	flags.StringVar(&f.template, "template", "", "template as <os>-<version>, instead of --os and --version")
	flags.StringVar(&f.image, "image", "", "base image name (default: the image imported for the OS and version)")
	flags.IntVar(&f.cpus, "cpus", provision.DefaultCPUs, "virtual CPUs")
	flags.StringVar(&f.memory, "memory", strconv.Itoa(provision.DefaultMemoryMiB), "memory, in MiB or with a unit: 512M, 2G")
	flags.StringVar(&f.disk, "disk", "", "disk size, in GiB or with a unit: 20G (default: the base image's size)")
	flags.StringVar(&f.userData, "user-data", "", "your own user-data file, combined with the template's")
	flags.StringArrayVar(&f.vars, "var", nil, "template variable as NAME=VALUE; repeat for more")
	flags.DurationVar(&f.sshTimeout, "ssh-timeout", 0, "how long to wait for SSH in the guest (default: the service's setting)")
	flags.DurationVar(&f.cloudInitTimeout, "cloud-init-timeout", 0, "how long to wait for cloud-init (default: the service's setting)")
	f.target.register(cmd)
	f.output.register(cmd)
	_ = cmd.RegisterFlagCompletionFunc("os", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		catalog, err := template.Load("")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return catalog.OSNames(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("version", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		catalog, err := template.Load("")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return catalog.Versions(f.osName), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func runProvision(ctx context.Context, a *app, f *provisionFlags, name string) error {
	templateName := f.template
	switch {
	case f.template != "" && (f.osName != "" || f.version != ""):
		return errors.New("give either --template or --os with --version, not both")
	case f.template == "" && (f.osName == "" || f.version == ""):
		return errors.New("missing --os and --version (or --template): for example --os debian --version 12; \"vmgenie template list\" shows the templates")
	case f.template == "":
		templateName = f.osName + "-" + f.version
	}
	if _, _, err := template.ParseName(templateName); err != nil {
		return err
	}
	if f.cpus < 1 || f.cpus > 64 {
		return fmt.Errorf("invalid --cpus %d: use 1 to 64", f.cpus)
	}
	params := map[string]any{"template": templateName, "vm_name": name, "cpus": f.cpus}
	memory, err := parseSize("memory", f.memory, 1<<20)
	if err != nil {
		return err
	}
	if memory < 128 {
		return fmt.Errorf("invalid --memory %q: give at least 128M", f.memory)
	}
	for flag, d := range map[string]time.Duration{"ssh-timeout": f.sshTimeout, "cloud-init-timeout": f.cloudInitTimeout} {
		if d != 0 && d < time.Second {
			return fmt.Errorf("invalid --%s %s: use at least 1s, such as 10m", flag, d)
		}
	}
	params["memory_mib"] = memory
	if f.disk != "" {
		disk, err := parseSize("disk", f.disk, 1<<30)
		if err != nil {
			return err
		}
		params["disk_gib"] = disk
	}
	if f.image != "" {
		params["image"] = f.image
	}
	if len(f.vars) > 0 {
		params["vars"] = f.vars
	}
	if f.userData != "" {
		data, err := os.ReadFile(f.userData)
		if err != nil {
			return fmt.Errorf("read --user-data: %w", err)
		}
		params["user_data"] = string(data)
		params["user_data_name"] = f.userData
	}
	if f.sshTimeout > 0 {
		params["ssh_timeout_seconds"] = int(f.sshTimeout.Seconds())
	}
	if f.cloudInitTimeout > 0 {
		params["cloud_init_timeout_seconds"] = int(f.cloudInitTimeout.Seconds())
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	start := time.Now()
	var operationID string
	resp, err := f.target.client().CallStream(ctx, "provision", params, func(p protocol.Progress) {
		if p.OperationID != "" {
			operationID = p.OperationID
		}
		// Progress goes to stderr, so -o json keeps stdout to the result.
		fmt.Fprintf(a.stderr, "[%3d%%] %-16s %s\n", p.Percent, p.Stage, p.Message)
	})
	if ctx.Err() != nil && operationID != "" {
		return fmt.Errorf("stopped following; the service goes on provisioning %q. Follow it with \"vmgenie call operation.get --param operation_id=%s --stream\" or cancel it with \"vmgenie call operation.cancel --param operation_id=%s\"",
			name, operationID, operationID)
	}
	if err != nil {
		return err
	}
	var data struct {
		Details string           `json:"details"`
		Result  provision.Result `json:"result"`
	}
	if err := json.Unmarshal(resp.Data, &data); err != nil {
		return fmt.Errorf("decode the provision response: %w", err)
	}
	for _, w := range data.Result.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
	md := data.Result.Instance
	return f.output.print(a.stdout, json.RawMessage(resp.Data), func(t *table) {
		t.header("NAME", "OS", "SSH", "USER", "ELAPSED")
		if md != nil {
			t.row(md.Name, md.OS+" "+md.Version, fmt.Sprintf("%s:%d", md.SSHHost, md.SSHPort), md.Username,
				time.Since(start).Round(time.Second).String())
		}
	})
}

func newListCommand(a *app) *cobra.Command {
	var target serviceFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "ps",
		Aliases: []string{"list"},
		Short:   "List the VMs with their state and SSH address",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list struct {
				VMs []api.VMInfo `json:"vms"`
			}
			if err := callService(cmd.Context(), target, "vm.list", nil, &list); err != nil {
				return err
			}
			return out.print(a.stdout, list.VMs, func(t *table) {
				t.header("NAME", "STATE", "OS", "CPUS", "MEMORY", "SSH", "CREATED")
				for _, vm := range list.VMs {
					state := string(vm.State)
					if vm.Phase != "ready" {
						state += " (" + string(vm.Phase) + ")"
					}
					t.row(vm.Name, state, vm.OS+" "+vm.Version, strconv.Itoa(vm.CPUs), fmt.Sprintf("%d MiB", vm.MemoryMiB),
						vm.SSH, vm.CreatedAt.Local().Format("2006-01-02 15:04"))
				}
			})
		},
	}
	target.register(cmd)
	out.register(cmd)
	return cmd
}

func newDetailsCommand(a *app) *cobra.Command {
	var target serviceFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:               "details NAME",
		Short:             "Describe one VM",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeVMNames(&target),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vm api.VMInfo
			if err := callService(cmd.Context(), target, "vm.get", map[string]any{"name": args[0]}, &vm); err != nil {
				return err
			}
			return out.print(a.stdout, vm, func(t *table) {
				rows := [][2]string{
					{"Name", vm.Name}, {"State", string(vm.State)}, {"Phase", string(vm.Phase)},
					{"OS", vm.OS + " " + vm.Version}, {"Image", vm.Image}, {"CPUs", strconv.Itoa(vm.CPUs)},
					{"Memory", fmt.Sprintf("%d MiB", vm.MemoryMiB)}, {"Disk", diskText(vm.DiskGiB)},
					{"Driver", vm.Driver}, {"Network", vm.Network}, {"User", vm.Username}, {"SSH", vm.SSH},
					{"Instance ID", vm.InstanceID}, {"Created", vm.CreatedAt.Local().Format(time.RFC3339)},
					{"Directory", vm.Dir},
				}
				for _, r := range rows {
					t.row(r[0]+":", r[1])
				}
			})
		},
	}
	target.register(cmd)
	out.register(cmd)
	return cmd
}

func diskText(gib int) string {
	if gib == 0 {
		return "size of the base image"
	}
	return fmt.Sprintf("%d GiB", gib)
}

// newLifecycleCommand builds start, pause, resume and similar commands that
// send one vm.* request and print its details text.
func newLifecycleCommand(a *app, use, short, command string, extra func(*cobra.Command, map[string]any)) *cobra.Command {
	var target serviceFlags
	params := map[string]any{}
	cmd := &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params["name"] = args[0]
			var data struct {
				Details string `json:"details"`
			}
			if err := callService(cmd.Context(), target, command, params, &data); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, data.Details)
			return nil
		},
	}
	cmd.ValidArgsFunction = completeVMNames(&target)
	target.register(cmd)
	if extra != nil {
		extra(cmd, params)
	}
	return cmd
}

func newStartCommand(a *app) *cobra.Command {
	return newLifecycleCommand(a, "start", "Start a VM that is off", "vm.start", nil)
}

func newPauseCommand(a *app) *cobra.Command {
	return newLifecycleCommand(a, "pause", "Freeze a running VM in memory", "vm.pause", nil)
}

func newResumeCommand(a *app) *cobra.Command {
	return newLifecycleCommand(a, "resume", "Continue a paused VM", "vm.resume", nil)
}

func newStopCommand(a *app) *cobra.Command {
	var force bool
	var timeout time.Duration
	return newLifecycleCommand(a, "stop", "Shut a VM down, or turn it off with --force", "vm.stop", func(cmd *cobra.Command, params map[string]any) {
		cmd.Flags().BoolVar(&force, "force", false, "turn the VM off at once, without asking the guest to shut down")
		cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "graceful shutdown time before the VM is turned off")
		cmd.PreRunE = func(*cobra.Command, []string) error {
			if timeout < time.Second {
				return fmt.Errorf("invalid --timeout %s: use at least 1s", timeout)
			}
			params["force"] = force
			params["timeout_seconds"] = int(timeout.Seconds())
			return nil
		}
	})
}

func newDeleteCommand(a *app) *cobra.Command {
	var force bool
	return newLifecycleCommand(a, "delete", "Delete a VM with its disk and files", "vm.delete", func(cmd *cobra.Command, params map[string]any) {
		cmd.Flags().BoolVar(&force, "force", false, "turn a running VM off before deleting it")
		cmd.PreRunE = func(*cobra.Command, []string) error {
			params["force"] = force
			return nil
		}
	})
}

func newAddressCommand(a *app) *cobra.Command {
	var target serviceFlags
	cmd := &cobra.Command{
		Use:               "address NAME",
		Short:             "Print the host:port of the VM's SSH server",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeVMNames(&target),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data struct {
				Address string `json:"address"`
			}
			if err := callService(cmd.Context(), target, "vm.address", map[string]any{"name": args[0]}, &data); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, data.Address)
			return nil
		},
	}
	target.register(cmd)
	return cmd
}

func newSwapISOCommand(a *app) *cobra.Command {
	var target serviceFlags
	cmd := &cobra.Command{
		Use:   "swap-iso NAME ISO",
		Short: `Put another ISO image into the VM's DVD drive ("" ejects it)`,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			iso := args[1]
			if iso != "" {
				abs, err := filepath.Abs(iso)
				if err != nil {
					return fmt.Errorf("resolve ISO path %q: %w", iso, err)
				}
				iso = abs
			}
			var data struct {
				Details string `json:"details"`
			}
			if err := callService(cmd.Context(), target, "vm.swap_iso", map[string]any{"name": args[0], "iso": iso}, &data); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, data.Details)
			return nil
		},
	}
	target.register(cmd)
	return cmd
}
