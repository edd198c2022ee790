//go:build amd64 && !purego

package codec

import "unsafe"

// specialMasks sets bit j of out[k] for each byte b[16k+j] of the first
// blocks*16 bytes of b that is '"', '\\' or below 0x20 (SSE2, sixteen
// bytes at a time).
//
//go:noescape
func specialMasks(b *byte, blocks int, out *uint16)

// specialWords is specialMasks for the first words*64 bytes of b, each
// word of out written with one store: ValidJSON loads the map's words
// right after they are built, and a load that spans several smaller
// stores is not forwarded from them (it waits for them to reach the
// cache).
//
//go:noescape
func specialWords(b *byte, words int, out *uint64)

// specialMap sets the bits of sp (zero, at least len(b)/64+1 words) for
// the special bytes of b: see ValidJSON.
func specialMap(b []byte, sp []uint64) {
	if len(b) == 0 {
		return
	}
	_ = sp[len(b)>>6]
	out := (*uint16)(unsafe.Pointer(&sp[0]))
	n := len(b) / 16
	done := 0 // sixteen-byte blocks mapped
	if w := len(b) / 64; w > 0 {
		specialWords(&b[0], w, &sp[0])
		done = 4 * w
	}
	if n > done {
		specialMasks(&b[16*done], n-done, (*uint16)(unsafe.Add(unsafe.Pointer(out), 2*done)))
	}
	r := len(b) % 16
	if r == 0 {
		return
	}
	var t uint16
	if len(b) >= 16 {
		// The last sixteen bytes again, their new part shifted into place.
		specialMasks(&b[len(b)-16], 1, &t)
		t >>= 16 - r
	} else {
		var pad [16]byte
		copy(pad[:], b)
		specialMasks(&pad[0], 1, &t)
		t &= 1<<r - 1
	}
	// Words are little-endian: 16-bit block n of the map.
	*(*uint16)(unsafe.Add(unsafe.Pointer(out), 2*n)) = t
}
