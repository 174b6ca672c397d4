package api

import (
	"context"
	"time"

	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/provision"
	"github.com/vmgenie/vmgenie/internal/seed"
	"github.com/vmgenie/vmgenie/internal/service"
)

// provisionAdapter connects the service's provision command to the
// provisioner.
type provisionAdapter struct{ a *API }

// ProvisionParams declares the provision parameters beyond template and
// vm_name.
func (provisionAdapter) ProvisionParams() []protocol.Param {
	return []protocol.Param{
		{Name: "image", Type: protocol.TypeString, Description: "base image name; default: the image imported for the template's OS and version"},
		{Name: "cpus", Type: protocol.TypeInteger, Check: intRange("cpus", 1, 64), Description: "virtual CPUs; default 2"},
		{Name: "memory_mib", Type: protocol.TypeInteger, Check: intRange("memory_mib", 128, 1<<20), Description: "memory in MiB; default 1024"},
		{Name: "disk_gib", Type: protocol.TypeInteger, Check: intRange("disk_gib", 1, 1<<16), Description: "disk size in GiB; default: the base image's size"},
		{Name: "vars", Type: protocol.TypeStringList, Description: "template variables as NAME=VALUE, such as \"TIMEZONE=Europe/Warsaw\""},
		{Name: "user_data", Type: protocol.TypeString, Description: "your own user-data, in any format cloud-init accepts, combined with the template's"},
		{Name: "user_data_name", Type: protocol.TypeString, Description: "name of the user-data file, used in messages"},
		{Name: "ssh_timeout_seconds", Type: protocol.TypeInteger, Check: intRange("ssh_timeout_seconds", 1, 86400), Description: "how long to wait for SSH in the guest; default from the service configuration"},
		{Name: "cloud_init_timeout_seconds", Type: protocol.TypeInteger, Check: intRange("cloud_init_timeout_seconds", 1, 86400), Description: "how long to wait for cloud-init to finish; default from the service configuration"},
	}
}

// Provision runs one provisioning in the service's operation.
func (p provisionAdapter) Provision(ctx context.Context, req service.ProvisionRequest, progress func(protocol.Progress)) (any, error) {
	params := req.Params
	r := provision.Request{
		Name: req.VMName, OS: req.OS, Version: req.Version,
		Image:            params.String("image"),
		CPUs:             int(params.Int("cpus")),
		MemoryMiB:        int(params.Int("memory_mib")),
		DiskGiB:          int(params.Int("disk_gib")),
		Vars:             params.StringList("vars"),
		SSHTimeout:       time.Duration(params.Int("ssh_timeout_seconds")) * time.Second,
		CloudInitTimeout: time.Duration(params.Int("cloud_init_timeout_seconds")) * time.Second,
		OperationID:      req.OperationID,
	}
	if params.Has("user_data") {
		name := params.String("user_data_name")
		if name == "" {
			name = "user-data"
		}
		r.UserData = &seed.Source{Name: name, Data: []byte(params.String("user_data"))}
	}
	report := func(stage, message string, percent int) {
		progress(protocol.Progress{Stage: stage, Message: message, Percent: percent})
	}
	result, err := p.a.provisioner.Provision(ctx, r, report)
	if err != nil {
		return nil, protocolError(err)
	}
	return result, nil
}
