//go:build windows

package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmgenie/vmgenie/internal/config"
	"github.com/vmgenie/vmgenie/internal/winacl"
)

// secureDataDirs restricts the service's directories to SYSTEM,
// Administrators and Hyper-V Administrators (winacl.DataDirSDDL): the data
// directory, which holds the instances' private keys, and the default
// config directory %ProgramData%\vmgenie when it exists. A per-user service
// keeps its files in the user's profile, which is private already, so it
// is left alone. It returns the directories whose DACL it changed.
func secureDataDirs(cfg *config.Config, log *slog.Logger) ([]string, error) {
	if cfg.UserMode {
		return nil, nil
	}
	dirs := []string{cfg.DataDir}
	if path, err := config.DefaultPath(false); err == nil {
		configDir := filepath.Dir(path)
		if _, err := os.Stat(configDir); err == nil && !strings.EqualFold(filepath.Clean(configDir), filepath.Clean(cfg.DataDir)) {
			dirs = append(dirs, configDir)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("checking the config directory %s failed: %w", configDir, err)
		}
	}

	var changed []string
	for _, dir := range dirs {
		didChange, err := winacl.SecureDir(dir)
		if err != nil {
			log.Error("securing a data directory failed", "dir", dir, "error", err)
			return changed, err
		}
		if didChange {
			log.Info("data directory restricted to SYSTEM, Administrators and Hyper-V Administrators", "dir", dir)
			changed = append(changed, dir)
		}
	}
	return changed, nil
}
