//go:build amd64 && !purego

package codec

import "testing"

// TestSpecialMapSSE2: the map without AVX2 (sixteen bytes at a time), as
// on a CPU that lacks it.
func TestSpecialMapSSE2(t *testing.T) {
	defer func(v bool) { avx2 = v }(avx2)
	avx2 = false
	checkSpecialMap(t)
}
