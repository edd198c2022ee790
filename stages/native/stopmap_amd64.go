//go:build amd64 && !purego

package native

// stopWords writes the stop map of the n >= 1 bytes at b to out (see
// stopMap), the last n%64 bytes read as the 64 bytes that end at b+n.
//
//go:noescape
func stopWords(b *byte, n int, c1, c2 byte, out *uint64)

// stopMap sets, for each byte text[i], bit i%64 of m[4*(i/64)+s] for
// each map s it is in: stopNotPlain (a control byte, '"', '\\', from 0x80
// up), stopSpace (' '), stopNotDigit and stopOwn (c1 or c2). The
// bits past the end of text are set in every map, so a scan for the next
// set bit ends at len(text) at the latest. m has at least stopMapLen
// words.
func stopMap(text []byte, c1, c2 byte, m []uint64) {
	_ = m[stopMapLen(len(text))-1]
	switch {
	case len(text) >= 64:
		stopWords(&text[0], len(text), c1, c2, &m[0])
	case len(text) > 0:
		// Shorter: at the end of 64 bytes, where stopWords reads its tail.
		var pad [64]byte
		at := copy(pad[64-len(text):], text)
		stopWords(&pad[64-at], at, c1, c2, &m[0])
	default:
		m[0], m[1], m[2], m[3] = ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)
	}
}
