package js

import (
	"time"

	"github.com/pipe-dev/pipe/stages/internal/script"
)

// SetLoadTimeout sets the bound of top-level code and init for a test and
// returns a function that restores it.
func SetLoadTimeout(d time.Duration) (restore func()) {
	old := script.LoadTimeout
	script.LoadTimeout = d
	return func() { script.LoadTimeout = old }
}
