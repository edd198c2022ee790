package bytecase

import "unsafe"

// FlipInto is Flip writing its result into dst (len(dst) >= len(s)) instead
// of a new allocation: it reports whether a byte changes; when none does, it
// writes nothing (the result is s itself), otherwise dst[:len(s)] holds s
// with its bytes in from..to flipped to the other case. The loop reads and
// writes sixteen bytes at a time on amd64 (SSE2, into_amd64.s), eight
// elsewhere and for the tail, without bounds checks (len(dst) is checked
// once).
func FlipInto(dst []byte, s string, from, to byte) bool {
	n := len(s)
	if len(dst) < n {
		panic("bytecase: FlipInto: dst shorter than s")
	}
	addFrom, addPast := adds(from, to)
	src := unsafe.StringData(s)
	// Find the first word with a byte to change.
	i := 0
	for ; i+8 <= n; i += 8 {
		if flips(load(src, i), addFrom, addPast) != 0 {
			break
		}
	}
	if i+8 > n {
		for i < n && (s[i] < from || s[i] > to) {
			i++
		}
		if i == n {
			return false
		}
	}
	d := unsafe.SliceData(dst)
	copy(dst[:i], s[:i])
	if haveBlocks && n-i >= 16 { // sixteen bytes at a time (amd64)
		m := (n - i) &^ 15
		flipBlocks((*byte)(unsafe.Add(unsafe.Pointer(d), i)), (*byte)(unsafe.Add(unsafe.Pointer(src), i)), m, from, to)
		i += m
		if i < n { // the tail: the last sixteen bytes again, overlapping
			flipBlocks((*byte)(unsafe.Add(unsafe.Pointer(d), n-16)), (*byte)(unsafe.Add(unsafe.Pointer(src), n-16)), 16, from, to)
			return true
		}
	}
	for ; i+8 <= n; i += 8 {
		w := load(src, i)
		store(d, i, w^flips(w, addFrom, addPast))
	}
	for ; i < n; i++ {
		c := s[i]
		if from <= c && c <= to {
			c ^= 0x20
		}
		dst[i] = c
	}
	return true
}

// load reads the eight bytes at p+i, little endian (amd64, arm64 and the
// other little-endian targets compile this to one load).
func load(p *byte, i int) uint64 {
	b := (*[8]byte)(unsafe.Add(unsafe.Pointer(p), i))
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// store writes w to the eight bytes at p+i, little endian.
func store(p *byte, i int, w uint64) {
	b := (*[8]byte)(unsafe.Add(unsafe.Pointer(p), i))
	b[0], b[1], b[2], b[3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	b[4], b[5], b[6], b[7] = byte(w>>32), byte(w>>40), byte(w>>48), byte(w>>56)
}
