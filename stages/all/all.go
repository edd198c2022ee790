// Package all compiles in every stage kind; each kind adds itself in a file
// of its own here (a blank import), and cmd/pipe imports this package.
package all

import (
	_ "github.com/pipe-dev/pipe/stages/native" // native transformers (grep, replace, ...)
)
