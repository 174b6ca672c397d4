//go:build !unix

package testimage

import "os/exec"

// terminateProcessGroupOnCancel leaves cmd unchanged: the build script
// needs a Linux host, so elsewhere it fails before it starts any children.
func terminateProcessGroupOnCancel(cmd *exec.Cmd) {}
