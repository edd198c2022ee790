package native

// The maps of stopMap, by their index in a chunk's four words.
const (
	stopNotPlain = iota // a control byte, '"', '\\' or from 0x80 up
	stopSpace           // ' '
	stopNotDigit        // not an ASCII digit
	stopOwn             // the emitter's bytes of its own (c1, c2)
)

// stopMapLen is how many words stopMap writes for text of n bytes: four
// for each 64 bytes, and four for the rest and what is past the end.
func stopMapLen(n int) int { return 4 * (n/64 + 1) }

// stopMapBytes is stopMap one byte at a time: platforms without SSE2 use
// it, and the tests compare stopMap with it.
func stopMapBytes(text []byte, c1, c2 byte, m []uint64) {
	m = m[:stopMapLen(len(text))]
	clear(m)
	for i, c := range text {
		w, bit := 4*(i>>6), uint64(1)<<(i&63)
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			m[w+stopNotPlain] |= bit
		}
		if c == ' ' {
			m[w+stopSpace] |= bit
		}
		if c < '0' || c > '9' {
			m[w+stopNotDigit] |= bit
		}
		if c == c1 || c == c2 {
			m[w+stopOwn] |= bit
		}
	}
	w := len(m) - 4
	past := ^uint64(0) << (len(text) & 63)
	for s := range 4 {
		m[w+s] |= past
	}
}
