// Package bytecase changes the case of ASCII letters eight bytes at a
// time, for the stages that change case: native case (in place), JS
// toUpperCase/toLowerCase (ASCII strings) and Lua string.upper/lower
// (byte-wise, as Lua 5.1).
package bytecase

import (
	"encoding/binary"
	"unsafe"
)

const (
	hi = 0x8080808080808080
	lo = 0x0101010101010101
)

// Range returns the bytes a change to upper case (a-z) or to lower case
// (A-Z) flips.
func Range(upper bool) (from, to byte) {
	if upper {
		return 'a', 'z'
	}
	return 'A', 'Z'
}

// adds returns the addends that make flips find the bytes in from..to: a
// byte below 0x80 sets its high bit when added to addFrom if it is >=
// from, and when added to addPast if it is > to.
func adds(from, to byte) (addFrom, addPast uint64) {
	return lo * uint64(0x80-from), lo * uint64(0x80-to-1)
}

// flips returns, for the eight bytes of w (little endian), 0x20 in each
// byte in from..to and 0 elsewhere. Bytes from 0x80 up are masked to seven
// bits first (so that no sum carries into the next byte) and then
// excluded by &^ w.
func flips(w, addFrom, addPast uint64) uint64 {
	w7 := w &^ hi
	return ((w7 + addFrom) &^ (w7 + addPast) &^ w & hi) >> 2
}

// FlipASCII flips the bytes of b in from..to (a-z or A-Z, see Range) to
// the other case, in place. It returns false when b holds a byte from 0x80
// up; b is then changed only before the eight bytes (or the byte, in the
// tail) where that byte was found.
func FlipASCII(b []byte, from, to byte) bool {
	addFrom, addPast := adds(from, to)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&hi != 0 {
			return false
		}
		binary.LittleEndian.PutUint64(b[i:], w^flips(w, addFrom, addPast))
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			return false
		}
		if from <= c && c <= to {
			b[i] = c ^ 0x20
		}
	}
	return true
}

// Flip returns s with its bytes in from..to (a-z or A-Z, see Range)
// flipped to the other case; every other byte (UTF-8 sequences, valid or
// not) stays as it is. It returns s itself, not a copy, when no byte
// changes.
func Flip(s string, from, to byte) string {
	addFrom, addPast := adds(from, to)
	word := func(i int) uint64 {
		return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
	}
	// Find the first byte to change.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if flips(word(i), addFrom, addPast) != 0 {
			break
		}
	}
	if i+8 > len(s) {
		for i < len(s) && (s[i] < from || s[i] > to) {
			i++
		}
		if i == len(s) {
			return s
		}
	}
	b := make([]byte, len(s))
	copy(b, s[:i])
	for ; i+8 <= len(s); i += 8 {
		w := word(i)
		binary.LittleEndian.PutUint64(b[i:], w^flips(w, addFrom, addPast))
	}
	for ; i < len(s); i++ {
		c := s[i]
		if from <= c && c <= to {
			c ^= 0x20
		}
		b[i] = c
	}
	return unsafe.String(&b[0], len(b)) // b is not used again
}
