package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// imageInfo is the part of `qemu-img info --output=json` the driver reads.
type imageInfo struct {
	Format      string `json:"format"`
	VirtualSize uint64 `json:"virtual-size"`
}

// runTool runs a helper binary (qemu-img) and returns its stdout. The error
// carries stderr, which is where qemu-img explains what failed.
func runTool(ctx context.Context, binary string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s %s: %s", binary, args[0], msg)
	}
	return stdout.Bytes(), nil
}

// inspectImage returns the format qemu-img detects for path and its virtual
// size. It opens the image shared (-U), so a running VM's base is readable.
func inspectImage(ctx context.Context, qemuImg, path string) (imageInfo, error) {
	out, err := runTool(ctx, qemuImg, "info", "--output=json", "-U", path)
	if err != nil {
		return imageInfo{}, err
	}
	var info imageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return imageInfo{}, fmt.Errorf("parse qemu-img info output for %s: %w", path, err)
	}
	return info, nil
}

// createOverlay creates a qcow2 overlay at overlay on top of base. A
// sizeBytes of zero keeps the base's virtual size. The base is only read.
func createOverlay(ctx context.Context, qemuImg string, base, baseFormat, overlay string, sizeBytes uint64) error {
	args := []string{"create", "-q", "-f", "qcow2", "-F", baseFormat, "-b", base, overlay}
	if sizeBytes > 0 {
		args = append(args, strconv.FormatUint(sizeBytes, 10))
	}
	_, err := runTool(ctx, qemuImg, args...)
	return err
}
