// Command vmgenie provisions Linux VMs from cloud-init templates on Hyper-V
// and QEMU/KVM.
package main

import (
	"os"

	"github.com/vmgenie/vmgenie/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
