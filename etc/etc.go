// Package etc embeds the default template catalog, which lives under
// cloud/<OS>/<version>/seed-data/ next to this file.
package etc

import "embed"

// Cloud is the embedded catalog. Paths inside it start with "cloud/".
//
//go:embed cloud
var Cloud embed.FS
