package cli

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vmgenie/vmgenie/internal/image"
)

func init() { commandFactories = append(commandFactories, newImageCommand) }

func newImageCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the base images that VMs boot from",
	}
	cmd.AddCommand(newImageImportCommand(a), newImageListCommand(a), newImageRemoveCommand(a))
	return cmd
}

func newImageImportCommand(a *app) *cobra.Command {
	var target serviceFlags
	var opts image.ImportOptions
	cmd := &cobra.Command{
		Use:   "import NAME FILE --os OS --version VERSION",
		Short: "Copy a local disk image (qcow2, raw, vhdx or vhd) into the image store",
		Long: `Copy a local disk image into the service's image store, read-only, so that VMs
get copy-on-write disks on top of it. --kernel, --initrd and --cmdline
together select direct kernel boot for images that carry no boot loader.
Name an image <os>-<version> (such as debian-12) and provisioning picks it
for that template by itself.`,
		Example: `  vmgenie image import debian-12 ./disk.qcow2 --os debian --version 12
  vmgenie image import debian-12 ./disk.raw --os debian --version 12 \
      --kernel ./vmlinuz --initrd ./initrd.img --cmdline "root=LABEL=rootfs console=ttyS0"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]any{"name": args[0], "os": opts.OS, "version": opts.Version}
			paths := map[string]string{"file": args[1], "kernel": opts.Kernel, "initrd": opts.Initrd}
			for key, path := range paths {
				if path == "" {
					continue
				}
				abs, err := filepath.Abs(path)
				if err != nil {
					return fmt.Errorf("resolve %s path %q: %w", key, path, err)
				}
				params[key] = abs
			}
			if opts.Cmdline != "" {
				params["cmdline"] = opts.Cmdline
			}
			if opts.Firmware != "" {
				params["firmware"] = opts.Firmware
			}
			var data struct {
				Details string `json:"details"`
			}
			if err := callService(cmd.Context(), target, "image.import", params, &data); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, data.Details)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.OS, "os", "", "OS of the image, as the templates name it, such as debian")
	flags.StringVar(&opts.Version, "version", "", "OS version, such as 12")
	flags.StringVar(&opts.Kernel, "kernel", "", "kernel file for direct kernel boot")
	flags.StringVar(&opts.Initrd, "initrd", "", "initrd file for direct kernel boot")
	flags.StringVar(&opts.Cmdline, "cmdline", "", "kernel command line for direct kernel boot")
	flags.StringVar(&opts.Firmware, "firmware", "", "firmware for disk boot: bios (default) or uefi")
	target.register(cmd)
	return cmd
}

func newImageListCommand(a *app) *cobra.Command {
	var target serviceFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the base images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var data struct {
				Images []image.Image `json:"images"`
			}
			if err := callService(cmd.Context(), target, "image.list", nil, &data); err != nil {
				return err
			}
			return out.print(a.stdout, data.Images, func(t *table) {
				t.header("NAME", "OS", "VERSION", "FORMAT", "SIZE", "BOOT", "IMPORTED")
				for _, img := range data.Images {
					boot := img.Firmware
					if img.Kernel != "" {
						boot = "kernel"
					}
					t.row(img.Name, img.OS, img.Version, img.Format, strconv.FormatInt(img.SizeBytes>>20, 10)+" MiB",
						boot, img.ImportedAt.Local().Format("2006-01-02 15:04"))
				}
			})
		},
	}
	target.register(cmd)
	out.register(cmd)
	return cmd
}

func newImageRemoveCommand(a *app) *cobra.Command {
	var target serviceFlags
	cmd := &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove a base image that no VM uses",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data struct {
				Details string `json:"details"`
			}
			if err := callService(cmd.Context(), target, "image.remove", map[string]any{"name": args[0]}, &data); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, data.Details)
			return nil
		},
	}
	target.register(cmd)
	return cmd
}
