//go:build !linux && !windows

package cli

import (
	"fmt"
	"runtime"
)

// newServiceBackend fails on platforms without a supported service
// manager.
// TODO: write a launchd property list on macOS.
func newServiceBackend(*app, bool) (serviceBackend, error) {
	return nil, fmt.Errorf("vmgenie service is not supported on %s yet: run \"vmgenie serve\" in the foreground, or start it from your own service manager", runtime.GOOS)
}
