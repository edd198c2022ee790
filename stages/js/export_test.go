package js

import "time"

// SetLoadTimeout sets the bound of top-level code and init for a test and
// returns a function that restores it.
func SetLoadTimeout(d time.Duration) (restore func()) {
	old := loadTimeout
	loadTimeout = d
	return func() { loadTimeout = old }
}
