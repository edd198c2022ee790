//go:build !amd64 || purego

package js

import "unsafe"

// flipBytes is flipCopy for n >= 16 bytes, two words a step, the last
// sixteen bytes again when n is not a multiple of sixteen. It returns
// nonzero when a byte of src is outside ASCII.
func flipBytes(dst, src *byte, n int, addFrom, addPast uint64) uint64 {
	const hi = 0x8080808080808080
	s, d := unsafe.Pointer(src), unsafe.Pointer(dst)
	var acc uint64
	flip := func(i int) {
		w0 := *(*uint64)(unsafe.Add(s, i))
		w1 := *(*uint64)(unsafe.Add(s, i+8))
		acc |= w0 | w1
		*(*uint64)(unsafe.Add(d, i)) = w0 ^ ((w0+addFrom)&^(w0+addPast)&hi)>>2
		*(*uint64)(unsafe.Add(d, i+8)) = w1 ^ ((w1+addFrom)&^(w1+addPast)&hi)>>2
	}
	for i := 0; i+16 <= n; i += 16 {
		flip(i)
	}
	if n%16 != 0 {
		flip(n - 16)
	}
	return acc & hi
}
