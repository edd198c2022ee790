//go:build !linux

package cli

// collectProcess adds nothing where /proc is missing.
func collectProcess(*promSet) {}
