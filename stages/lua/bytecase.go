package lua

import (
	"encoding/binary"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// strUpper and strLower are string.upper and string.lower as in Lua 5.1:
// byte by byte, changing ASCII letters only, so that every other byte
// (UTF-8 sequences, invalid or not) stays as it was. (gopher-lua's own
// go through Go's strings.ToUpper, which turns invalid UTF-8 into U+FFFD.)
func strUpper(L *lua.LState) int { return strCase(L, 'a', 'z') }
func strLower(L *lua.LState) int { return strCase(L, 'A', 'Z') }

// strCase flips the case of the bytes from..to of its string argument. A
// string without such a byte is returned as it is (no copy).
func strCase(L *lua.LState, from, to byte) int {
	s := L.CheckString(1)
	L.Push(lua.LString(flipCase(s, from, to)))
	return 1
}

// flipCase returns s with the bytes in from..to (a-z or A-Z) flipped to
// the other case, eight bytes at a time; every other byte is copied as it
// is. It returns s itself when no byte changes.
func flipCase(s string, from, to byte) string {
	const hi = 0x8080808080808080
	const lo = 0x0101010101010101
	addFrom := lo * uint64(0x80-from) // a byte (below 0x80) >= from sets its high bit
	addPast := lo * uint64(0x80-to-1) // a byte (below 0x80) > to sets its high bit
	// flips returns, for the 8 bytes of w, 0x20 in each byte in from..to.
	// Bytes >= 0x80 are masked to 7 bits first (so no sum carries into the
	// next byte) and then excluded by ^w.
	flips := func(w uint64) uint64 {
		w7 := w &^ hi
		return ((w7 + addFrom) &^ (w7 + addPast) &^ w & hi) >> 2
	}
	// Find the first byte to change; a string without one is returned
	// without a copy.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if flips(binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))) != 0 {
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
		w := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		binary.LittleEndian.PutUint64(b[i:], w^flips(w))
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
