package codec

import (
	"encoding/binary"
	"math/bits"

	"github.com/tidwall/gjson"
)

// ValidJSON reports whether b is exactly one JSON value, surrounded by
// optional blanks (space, tab, CR, LF). It accepts exactly what
// gjson.ValidBytes accepts (strings are not checked for valid UTF-8; the
// fuzz test compares the two) at about three times its speed: the ndjson
// input checks every record with it, and gjson's recursive check cost
// about 250 ns of a 221-byte record (a third of W1's CPU time).
//
// It walks the value with an explicit stack of open containers instead of
// recursion. Before the walk it marks every '"', '\\' and control byte of b
// in a bit map (SSE2, sixteen bytes at a time, on amd64; eight at a time
// in Go elsewhere or with the purego tag): a string then ends at the first
// marked byte after its opening quote, found with one shift and a count of
// trailing zeros, unless that byte is an escape or an error.
func ValidJSON(b []byte) bool {
	// sp has bit i%64 of word i/64 set for each byte b[i] that is '"',
	// '\\' or a control character: a string ends at the first set bit
	// after its opening quote unless that bit is an escape or an error.
	var buf [mapWords]uint64
	var sp []uint64
	if n := len(b)/64 + 1; n <= mapWords {
		sp = buf[:n]
	} else {
		sp = make([]uint64, n)
	}
	specialMap(b, sp)
	// open holds one bit per open container (1: object, 0: array), the
	// innermost in bit (depth-1)%64 of word (depth-1)/64.
	var open [maxDepth / 64]uint64
	depth := 0
	obj := false
	i := skipBlank(b, 0)
	if i == len(b) {
		return false
	}
value:
	// b[i] starts a value (no blanks before it).
	switch c := b[i]; {
	case c == '"':
		// A string whose first special byte is its closing quote (no
		// escapes: most strings) without a call.
		if j := i + 1; j < len(b) {
			if x := sp[j>>6] >> (uint(j) & 63); x != 0 {
				if j += bits.TrailingZeros64(x); b[j] == '"' {
					i = j + 1
					break
				}
			}
		}
		if i = skipStringMap(b, sp, i+1); i < 0 {
			return false
		}
	case c == '{' || c == '[':
		if depth == maxDepth {
			return gjson.ValidBytes(b) // deeper than the stack: the slow way
		}
		if obj = c == '{'; obj {
			open[depth/64] |= 1 << (depth % 64)
		} else {
			open[depth/64] &^= 1 << (depth % 64)
		}
		depth++
		if i = skipBlank(b, i+1); i == len(b) {
			return false
		}
		if obj {
			switch b[i] {
			case '}':
				goto closed
			case '"':
				goto key
			}
			return false
		}
		if b[i] == ']' {
			goto closed
		}
		goto value
	case c-'1' < 9:
		// An integer without a sign inline; a fraction or an exponent
		// after it the general way.
		j := i + 1
		for j < len(b) && b[j]-'0' < 10 {
			j++
		}
		if j < len(b) && (b[j] == '.' || b[j]|0x20 == 'e') {
			if j = skipNumber(b, i); j < 0 {
				return false
			}
		}
		i = j
	case c == '-' || c == '0':
		if i = skipNumber(b, i); i < 0 {
			return false
		}
	case c == 't':
		if len(b)-i < 4 || b[i+1] != 'r' || b[i+2] != 'u' || b[i+3] != 'e' {
			return false
		}
		i += 4
	case c == 'f':
		if len(b)-i < 5 || b[i+1] != 'a' || b[i+2] != 'l' || b[i+3] != 's' || b[i+4] != 'e' {
			return false
		}
		i += 5
	case c == 'n':
		if len(b)-i < 4 || b[i+1] != 'u' || b[i+2] != 'l' || b[i+3] != 'l' {
			return false
		}
		i += 4
	default:
		return false
	}
after:
	// A value ended at b[i-1]: what follows is a comma, the end of its
	// container, or (at depth 0) blanks to the end.
	if i = skipBlank(b, i); depth == 0 {
		return i == len(b)
	}
	if i == len(b) {
		return false
	}
	// obj is the innermost open container's kind: set when it opened or,
	// below, when an inner one closed.
	switch b[i] {
	case ',':
		if i = skipBlank(b, i+1); i == len(b) {
			return false
		}
		if !obj {
			goto value
		}
		if b[i] != '"' {
			return false
		}
		goto key
	case '}':
		if !obj {
			return false
		}
	case ']':
		if obj {
			return false
		}
	default:
		return false
	}
closed:
	// b[i] closes the innermost container.
	depth--
	i++
	if depth > 0 {
		d := uint(depth - 1)
		obj = open[d/64]&(1<<(d%64)) != 0
	}
	goto after
key:
	// b[i] is the '"' of an object's key. Most members of a record are a
	// key without escapes, a colon with no blank around it and a string
	// without escapes or an unsigned number, followed by `,"` when another
	// member follows: this loop takes such members a few instructions each
	// (two loads of the map, no blank skipping, no dispatch on the value's
	// first byte), and hands anything else to the general walk at the byte
	// it reached, which decides as it would have from the start.
	for {
		j := marked(sp, i+1)
		if j < 0 {
			return false // the key never closes
		}
		if b[j] != '"' {
			break // an escape or a control byte: the general walk
		}
		// b[j] closes the key.
		if len(b)-j < 3 {
			i = j + 1
			goto colon
		}
		if b[j+1] != ':' {
			i = j + 1
			goto colon
		}
		i = j + 2 // the value's first byte
		switch c := b[i]; {
		case c == '"':
			k := marked(sp, i+1)
			if k < 0 {
				return false // the string never closes
			}
			if b[k] != '"' {
				goto value
			}
			i = k + 1
		case c-'1' < 9:
			k := i + 1
			for k < len(b) && b[k]-'0' < 10 {
				k++
			}
			if k < len(b) && b[k] == '.' {
				f := k + 1
				for k = f; k < len(b) && b[k]-'0' < 10; k++ {
				}
				if k == f {
					goto value // no digit after the point
				}
			}
			if k < len(b) && b[k]|0x20 == 'e' {
				goto value
			}
			i = k
		case c == '[':
			// A list of strings without escapes (tags); any other
			// list is walked from its '[' the general way.
			k := i + 1
			for {
				if k >= len(b) || b[k] != '"' {
					goto value
				}
				e := marked(sp, k+1)
				if e < 0 {
					return false // the string never closes
				}
				if b[e] != '"' {
					goto value
				}
				if k = e + 1; k < len(b) && b[k] == ',' {
					k++
					continue
				}
				break
			}
			if k >= len(b) || b[k] != ']' {
				goto value
			}
			i = k + 1
		default:
			goto member
		}
		// A value ended at b[i-1].
		if len(b)-i < 2 || binary.LittleEndian.Uint16(b[i:]) != ','|'"'<<8 {
			if depth == 1 && i < len(b) && b[i] == '}' {
				// The end of the outermost object: blanks may follow.
				return skipBlank(b, i+1) == len(b)
			}
			goto after
		}
		i++
	}
	if j := i + 1; j < len(b) {
		if x := sp[j>>6] >> (uint(j) & 63); x != 0 {
			if j += bits.TrailingZeros64(x); b[j] == '"' {
				i = j + 1
				goto colon
			}
		}
	}
	if i = skipStringMap(b, sp, i+1); i < 0 {
		return false
	}
colon:
	if i = skipBlank(b, i); i == len(b) || b[i] != ':' {
		return false
	}
	i++
member:
	// b[i-1] is a member's colon.
	if i = skipBlank(b, i); i == len(b) {
		return false
	}
	goto value
}

// marked returns the index of the first byte at or after b[j] marked in
// sp, ValidJSON's map of b's special bytes, or -1 if there is none (j is
// at most len(b)).
func marked(sp []uint64, j int) int {
	if x := sp[j>>6] >> (uint(j) & 63); x != 0 {
		return j + bits.TrailingZeros64(x)
	}
	return markedNext(sp, j>>6+1)
}

// markedNext returns the index of the first byte marked in sp from word w
// on, or -1.
func markedNext(sp []uint64, w int) int {
	for ; w < len(sp); w++ {
		if x := sp[w]; x != 0 {
			return w<<6 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

// maxDepth is how deep ValidJSON follows nesting itself; deeper values are
// checked by gjson.
const maxDepth = 1024

// skipBlank returns the index of the first byte of b[i:] that is not a
// blank. Most tokens of a record have none before them: that case is one
// comparison, inlined.
func skipBlank(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	return skipBlanks(b, i)
}

func skipBlanks(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

const ones = 0x0101010101010101

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber returns the index after the number starting at b[i] (a '-' or
// a digit), or -1 if it is not a valid number.
func skipNumber(b []byte, i int) int {
	if b[i] == '-' {
		if i++; i == len(b) || !isDigit(b[i]) {
			return -1
		}
	}
	if b[i] == '0' {
		i++
	} else {
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && b[i] == '.' {
		if i++; i == len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// mapWords is the size of ValidJSON's special-byte map on the stack: it
// covers values up to 2 KiB; longer ones get one on the heap.
const mapWords = 32

// skipStringMap returns the index after the closing quote of the string
// whose contents start at b[i], or -1 if it is not a valid string; sp is
// b's special-byte map (see ValidJSON).
func skipStringMap(b []byte, sp []uint64, i int) int {
	for {
		// The first special byte at or after i.
		w := i >> 6
		if w >= len(sp) {
			return -1
		}
		x := sp[w] >> (uint(i) & 63)
		for x == 0 {
			if w++; w == len(sp) {
				return -1
			}
			i = w << 6
			x = sp[w]
		}
		i += bits.TrailingZeros64(x)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 == len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

// zeroBytes has the high bit of each zero byte of v set, and no other bit
// (no borrows between bytes, unlike special).
func zeroBytes(v uint64) uint64 {
	const lows = 0x7f7f7f7f7f7f7f7f
	return ^((v&lows + lows) | v | lows)
}

// specialExact has the high bit set of exactly the bytes of w that are
// '"', '\\' or below 0x20.
func specialExact(w uint64) uint64 {
	return zeroBytes(w^('"'*ones)) | zeroBytes(w^('\\'*ones)) | zeroBytes(w&(0xe0*ones))
}

// specialMapGo is specialMap eight bytes at a time (SWAR).
func specialMapGo(b []byte, sp []uint64) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		m := specialExact(binary.LittleEndian.Uint64(b[i:]))
		// Gather the eight high bits into the low byte.
		g := (m >> 7) * 0x0102040810204080 >> 56
		sp[i>>6] |= g << (uint(i) & 63)
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < ' ' {
			sp[i>>6] |= 1 << (uint(i) & 63)
		}
	}
}
