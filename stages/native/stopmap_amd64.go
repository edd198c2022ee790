//go:build amd64 && !purego

package native

// stopWords writes the maps of chunks times 64 bytes from b: for chunk k,
// bit j of out[5k+m] is set when byte 64k+j is in map m (see stopMap).
//
//go:noescape
func stopWords(b *byte, chunks int, c1, c2 byte, out *uint64)

// stopMap sets, for each byte text[i], bit i%64 of m[5*(i/64)+s] for
// each map s it is in: stopNotPlain (a control byte, '"', '\\', from 0x80
// up), stopSpace (' '), stopNotDigit, stopC1 (c1) and stopC2 (c2). The
// bits past the end of text are set in every map, so a scan for the next
// set bit ends at len(text) at the latest. m has at least stopMapLen
// words.
func stopMap(text []byte, c1, c2 byte, m []uint64) {
	n := len(text) / 64
	t := m[5*n : 5*n+5 : 5*n+5]
	if n > 0 {
		stopWords(&text[0], n, c1, c2, &m[0])
	}
	r := len(text) % 64
	switch {
	case r == 0:
		t[0], t[1], t[2], t[3], t[4] = ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)
		return
	case len(text) >= 64:
		// The last 64 bytes again, their new part shifted into place.
		stopWords(&text[len(text)-64], 1, c1, c2, &t[0])
		for k := range t {
			t[k] >>= 64 - r
		}
	default:
		var pad [64]byte
		copy(pad[:], text)
		stopWords(&pad[0], 1, c1, c2, &t[0])
	}
	past := ^uint64(0) << r
	t[0] |= past
	t[1] |= past
	t[2] |= past
	t[3] |= past
	t[4] |= past
}
