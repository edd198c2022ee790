//go:build amd64 && !purego

package js

// flipBytes is flipCopy for n >= 16 bytes (SSE2, sixteen bytes a step,
// the last sixteen again when n is not a multiple of sixteen). It returns
// nonzero when a byte of src is outside ASCII.
//
//go:noescape
func flipBytes(dst, src *byte, n int, addFrom, addPast uint64) uint64
