// Package assets holds Lifeboat's files that ship inside the binary.
package assets

import _ "embed"

// Icon is the app icon (512×512 PNG): a lifebuoy around a download arrow.
//
//go:embed icon.png
var Icon []byte
