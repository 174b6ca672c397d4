package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv"
	"github.com/vmgenie/vmgenie/internal/image"
	"github.com/vmgenie/vmgenie/internal/instance"
	"github.com/vmgenie/vmgenie/internal/protocol"
	"github.com/vmgenie/vmgenie/internal/seed"
	"github.com/vmgenie/vmgenie/internal/template"
)

func (a *API) commands() []protocol.Command {
	cmds := a.vmCommands()
	cmds = append(cmds, a.imageCommands()...)
	cmds = append(cmds, a.templateCommands()...)
	return cmds
}

// TemplateInfo is one template as template.list returns it.
type TemplateInfo struct {
	Name    string `json:"name"`
	OS      string `json:"os"`
	Version string `json:"version"`
	Source  string `json:"source"`
}

func (a *API) templateCommands() []protocol.Command {
	templateParam := protocol.Param{Name: "template", Type: protocol.TypeString, Required: true,
		Description: "the template as <os>-<version>, such as \"debian-12\""}
	varsParam := protocol.Param{Name: "vars", Type: protocol.TypeStringList,
		Description: "template variables as NAME=VALUE; HOSTNAME and SSH_PUBLIC_KEY are required"}
	return []protocol.Command{
		{Name: "template.list", Summary: "List the OS templates and where each comes from.", Handler: a.handleTemplateList},
		{Name: "template.render", Summary: "Render a template's seed data files with the given variables.",
			Params: []protocol.Param{templateParam, varsParam}, Handler: a.handleTemplateRender},
		{Name: "seed.build", Summary: "Render a template and return the seed ISO, base64-encoded, with its file list.",
			Params: []protocol.Param{templateParam, varsParam,
				{Name: "user_data", Type: protocol.TypeString, Description: "your own user-data, combined with the template's"},
				{Name: "volume_id", Type: protocol.TypeString, Enum: []string{seed.VolumeIDLower, seed.VolumeIDUpper}, Default: seed.VolumeIDLower,
					Description: "the ISO's volume label"},
			}, Handler: a.handleSeedBuild},
	}
}

func (a *API) handleTemplateList(context.Context, *protocol.Call) (any, error) {
	catalog, err := a.catalog()
	if err != nil {
		return nil, err
	}
	var list []TemplateInfo
	for _, t := range catalog.Templates() {
		list = append(list, TemplateInfo{Name: t.Name(), OS: t.OS, Version: t.Version, Source: t.Source})
	}
	return map[string]any{"templates": list}, nil
}

func (a *API) renderCall(call *protocol.Call) (*template.Rendered, error) {
	catalog, err := a.catalog()
	if err != nil {
		return nil, err
	}
	t, err := catalog.LookupName(call.Params.String("template"))
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeNotFound, "%v", err)
	}
	var values template.Values
	for _, assignment := range call.Params.StringList("vars") {
		name, value, err := template.ParseAssignment(assignment)
		if err == nil {
			err = values.Set(name, value)
		}
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidParameter, "vars: %v", err)
		}
	}
	rendered, err := t.Render(values)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParameter, "%v", err)
	}
	return rendered, nil
}

func (a *API) handleTemplateRender(_ context.Context, call *protocol.Call) (any, error) {
	rendered, err := a.renderCall(call)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for name, data := range rendered.Files() {
		files[name] = string(data)
	}
	return map[string]any{"template": rendered.Template, "instance_id": rendered.InstanceID, "files": files}, nil
}

func (a *API) handleSeedBuild(_ context.Context, call *protocol.Call) (any, error) {
	rendered, err := a.renderCall(call)
	if err != nil {
		return nil, err
	}
	spec := seed.Spec{
		Template: &seed.Source{Name: rendered.Template + "/user-data", Data: rendered.UserData},
		MetaData: &seed.Source{Name: rendered.Template + "/meta-data", Data: rendered.MetaData},
		VolumeID: call.Params.String("volume_id"),
	}
	if rendered.NetworkConfig != nil {
		spec.NetworkConfig = &seed.Source{Name: rendered.Template + "/network-config", Data: rendered.NetworkConfig}
	}
	if call.Params.Has("user_data") {
		spec.UserData = []seed.Source{{Name: "user_data", Data: []byte(call.Params.String("user_data"))}}
	}
	s, err := seed.Build(spec)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParameter, "%v", err)
	}
	iso, err := s.Image()
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range s.Files {
		files = append(files, f.Path)
	}
	var warnings []string
	for _, w := range s.Warnings {
		warnings = append(warnings, w.String())
	}
	return map[string]any{
		"instance_id": s.InstanceID, "files": files, "warnings": warnings,
		"size_bytes": len(iso), "iso_base64": base64.StdEncoding.EncodeToString(iso),
	}, nil
}

func (a *API) imageCommands() []protocol.Command {
	nameParam := protocol.Param{Name: "name", Type: protocol.TypeString, Required: true, Check: checkImageName, Description: "the image's name, such as \"debian-12\""}
	return []protocol.Command{
		{Name: "image.list", Summary: "List the base images.", Handler: a.handleImageList},
		{Name: "image.import", Summary: "Copy a local disk image (qcow2, raw, vhdx or vhd) into the service's image store.",
			Params: []protocol.Param{nameParam,
				{Name: "file", Type: protocol.TypeString, Required: true, Description: "absolute path of the disk image on the service's host"},
				{Name: "os", Type: protocol.TypeString, Required: true, Description: "the OS, as the template catalog names it, such as \"debian\""},
				{Name: "version", Type: protocol.TypeString, Required: true, Description: "the OS version, such as \"12\""},
				{Name: "kernel", Type: protocol.TypeString, Description: "absolute path of a kernel for direct kernel boot"},
				{Name: "initrd", Type: protocol.TypeString, Description: "absolute path of the initrd for direct kernel boot"},
				{Name: "cmdline", Type: protocol.TypeString, Description: "kernel command line for direct kernel boot"},
				{Name: "firmware", Type: protocol.TypeString, Enum: []string{"bios", "uefi"}, Default: "bios", Description: "firmware for disk boot"},
			}, Handler: a.handleImageImport},
		{Name: "image.remove", Summary: "Remove a base image that no VM uses.", Params: []protocol.Param{nameParam}, Handler: a.handleImageRemove},
	}
}

func (a *API) handleImageList(context.Context, *protocol.Call) (any, error) {
	list, err := a.cfg.Images.List()
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []*image.Image{}
	}
	return map[string]any{"images": list}, nil
}

func (a *API) handleImageImport(ctx context.Context, call *protocol.Call) (any, error) {
	p := call.Params
	for _, field := range []string{"file", "kernel", "initrd"} {
		if v := p.String(field); v != "" && !filepath.IsAbs(v) {
			return nil, protocol.Errorf(protocol.CodeInvalidParameter, "%s %q is not an absolute path; the service resolves no relative paths, so give the full path", field, v)
		}
	}
	name := p.String("name")
	if catalog, err := a.catalog(); err == nil && !slices.Contains(catalog.OSNames(), p.String("os")) {
		return nil, protocol.Errorf(protocol.CodeInvalidParameter, "os %q has no template, so no VM could use this image; use one of %s, or add a template for it",
			p.String("os"), strings.Join(catalog.OSNames(), ", "))
	}
	release, err := a.ops.Hold("image:"+name, "image.import")
	if err != nil {
		return nil, err
	}
	defer release()
	img, err := a.cfg.Images.Import(image.ImportOptions{
		Name: name, File: p.String("file"), OS: p.String("os"), Version: p.String("version"),
		Kernel: p.String("kernel"), Initrd: p.String("initrd"), Cmdline: p.String("cmdline"), Firmware: p.String("firmware"),
		Convert: a.convertForDriver(ctx),
	})
	if err != nil {
		a.log.Error("image import failed", "id", call.ID, "image", name, "error", err)
		return nil, protocolError(err)
	}
	a.log.Info("image imported", "id", call.ID, "image", name, "size_bytes", img.SizeBytes)
	return map[string]any{"details": fmt.Sprintf("Image '%s' imported.", name), "image": img}, nil
}

func (a *API) handleImageRemove(_ context.Context, call *protocol.Call) (any, error) {
	name := call.Params.String("name")
	list, _ := a.cfg.Store.List()
	for _, md := range list {
		if md.Image == name {
			return nil, protocol.Errorf(protocol.CodeConflict, "image '%s' is the base of VM '%s'; delete that VM first", name, md.Name)
		}
	}
	if err := a.cfg.Images.Remove(name); err != nil {
		return nil, protocolError(err)
	}
	return map[string]any{"details": fmt.Sprintf("Image '%s' removed.", name)}, nil
}

// convertForDriver returns the disk conversion the driver needs at import:
// Hyper-V boots only VHDX and VHD, so qcow2 and raw images become dynamic
// VHDX files. Other drivers take the file as it is.
func (a *API) convertForDriver(ctx context.Context) func(src, format, dir string) (string, string, error) {
	if a.cfg.Driver == nil || a.cfg.Driver.Name() != "hyperv" {
		return nil
	}
	return func(src, format, dir string) (string, string, error) {
		prepared, err := hyperv.PrepareBaseImage(ctx, hyperv.PrepareOptions{Source: src, Format: format, OutputDir: dir, Logger: a.log})
		if err != nil {
			return "", "", err
		}
		if !prepared.Converted {
			return src, format, nil
		}
		return prepared.Path, prepared.Format, nil
	}
}

func checkImageName(v any) error {
	var invalid *instance.InvalidNameError
	if err := instance.ValidateName(v.(string)); errors.As(err, &invalid) {
		return fmt.Errorf("invalid image name %q: %s", invalid.Name, invalid.Rule)
	} else if err != nil {
		return err
	}
	return nil
}
