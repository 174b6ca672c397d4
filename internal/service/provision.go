package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/template"
	"github.com/vmgenie/vmgenie/internal/transport"
)

// ProvisionRequest is a validated provision request.
type ProvisionRequest struct {
	// Template is the template as sent, such as "ubuntu-24.04".
	Template string
	// OS and Version split Template at its last '-': "ubuntu" and "24.04".
	OS      string
	Version string
	// VMName is a valid instance name (see instance.ValidateName).
	VMName string
	// Params holds every validated parameter, including the extra ones a
	// ParamsProvisioner declares.
	Params protocol.Values
	// Caller is the client that asked.
	Caller transport.Peer
	// OperationID is the operation the provisioning runs in.
	OperationID string
}

// Provisioner creates a VM. The service calls Provision inside an
// operation that holds the VM name, so calls for one name never overlap.
// Provision reports its steps through progress and returns a
// JSON-encodable result for operation.get. An *protocol.Error chooses the
// error code (for example conflict when the VM exists); any other error is
// reported as internal. When ctx is canceled, Provision removes what it made
// and returns.
type Provisioner interface {
	Provision(ctx context.Context, req ProvisionRequest, progress func(protocol.Progress)) (any, error)
}

// ParamsProvisioner is a Provisioner that takes parameters beyond template
// and vm_name, such as cpus or memory. They are added to the provision
// command's schema, validated like the others, and passed in
// ProvisionRequest.Params.
type ParamsProvisioner interface {
	Provisioner
	ProvisionParams() []protocol.Param
}

// ProvisionStartedDetails returns the details text of provision's
// immediate response.
func ProvisionStartedDetails(vmName string) string {
	return fmt.Sprintf("VM '%s' provisioning started.", vmName)
}

func checkTemplate(value any) error {
	if _, _, err := template.ParseName(value.(string)); err != nil {
		return fmt.Errorf("invalid template %q: write it as <os>-<version>, such as \"ubuntu-24.04\", \"debian-12\" or \"opensuse-tumbleweed-current\"", value)
	}
	return nil
}

func checkVMName(value any) error {
	var invalid *instance.InvalidNameError
	if err := instance.ValidateName(value.(string)); errors.As(err, &invalid) {
		return fmt.Errorf("invalid VM name %q: %s", invalid.Name, invalid.Rule)
	} else if err != nil {
		return err
	}
	return nil
}

func (s *Server) provisionCommand() protocol.Command {
	params := []protocol.Param{
		{
			Name: "template", Type: protocol.TypeString, Required: true, Check: checkTemplate,
			Description: "the OS template as <os>-<version>, such as \"ubuntu-24.04\"",
		},
		{
			Name: "vm_name", Type: protocol.TypeString, Required: true, Check: checkVMName,
			Description: "the new VM's name, a hostname label such as \"testvm\"",
		},
	}
	if extra, ok := s.opts.Provisioner.(ParamsProvisioner); ok {
		params = append(params, extra.ProvisionParams()...)
	}
	return protocol.Command{
		Name: "provision",
		Summary: "Create a VM from a template and start it. The answer comes at once with an operation_id for operation.get; " +
			"with \"stream\": true the progress lines follow until the VM is ready.",
		Params:  params,
		Streams: true,
		Handler: s.handleProvision,
	}
}

func (s *Server) handleProvision(ctx context.Context, call *protocol.Call) (any, error) {
	templateName := call.Params.String("template")
	vmName := call.Params.String("vm_name")
	if s.opts.Provisioner == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable,
			"cannot provision VM '%s' from template %q: this service has no hypervisor driver (driver %q), so it cannot create VMs; configure a driver and restart the service",
			vmName, templateName, s.opts.Driver)
	}

	osName, osVersion, _ := template.ParseName(templateName)
	req := ProvisionRequest{
		Template: templateName, OS: osName, Version: osVersion, VMName: vmName,
		Params: call.Params, Caller: call.Peer,
	}
	info, err := s.ops.Start("provision", vmName, func(ctx context.Context, progress func(protocol.Progress)) (any, error) {
		req := req
		req.OperationID = OperationID(ctx)
		return s.opts.Provisioner.Provision(ctx, req, progress)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("provisioning started", "id", call.ID, "operation_id", info.ID, "vm", vmName,
		"template", templateName, "caller", call.Peer.User)

	if !call.Stream {
		return map[string]any{
			"details":      ProvisionStartedDetails(vmName),
			"operation_id": info.ID,
		}, nil
	}

	// A streaming client follows the operation to its end. Disconnecting
	// stops the stream but not the operation.
	final, err := s.ops.Follow(ctx, info.ID, true, call.Progress)
	if err != nil {
		return nil, err
	}
	if final.Error != nil {
		return nil, final.Error
	}
	return map[string]any{
		"details":      fmt.Sprintf("VM '%s' provisioned.", vmName),
		"operation_id": final.ID,
		"result":       final.Result,
	}, nil
}
