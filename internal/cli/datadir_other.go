//go:build !windows

package cli

import (
	"log/slog"

	"github.com/vmgenie/vmgenie/internal/config"
)

// secureDataDirs does nothing outside Windows, where the instance store
// creates <data_dir>/cloud with mode 0700 and each key file with mode 0600.
func secureDataDirs(*config.Config, *slog.Logger) ([]string, error) { return nil, nil }
