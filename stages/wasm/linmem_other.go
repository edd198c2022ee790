//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package wasm

const reserveSupported = false

// reserve is not available here: memories are wazero's Go slices.
func reserve(uint64) *linearMemory { return nil }
