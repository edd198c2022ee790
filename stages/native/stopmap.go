package native

// The maps of stopMap, by their index in a chunk's five words.
const (
	stopNotPlain = iota // a control byte, '"', '\\' or from 0x80 up
	stopSpace           // ' '
	stopNotDigit        // not an ASCII digit
	stopC1              // the emitter's first byte of its own
	stopC2              // its second
)

// stopMapLen is how many words stopMap writes for text of n bytes: five
// for each 64 bytes, and five for the rest and what is past the end.
func stopMapLen(n int) int { return 5 * (n/64 + 1) }

// stopMapBytes is stopMap one byte at a time: platforms without SSE2 use
// it, and the tests compare stopMap with it.
func stopMapBytes(text []byte, c1, c2 byte, m []uint64) {
	m = m[:stopMapLen(len(text))]
	clear(m)
	for i, c := range text {
		w, bit := 5*(i>>6), uint64(1)<<(i&63)
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			m[w+stopNotPlain] |= bit
		}
		if c == ' ' {
			m[w+stopSpace] |= bit
		}
		if c < '0' || c > '9' {
			m[w+stopNotDigit] |= bit
		}
		if c == c1 {
			m[w+stopC1] |= bit
		}
		if c == c2 {
			m[w+stopC2] |= bit
		}
	}
	w := len(m) - 5
	past := ^uint64(0) << (len(text) & 63)
	for s := range 5 {
		m[w+s] |= past
	}
}
