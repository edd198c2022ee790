//go:build amd64 && !purego

package native

// quoteWords sets bit j of out[k] for each byte b[64k+j] of the first
// words*64 bytes of b that is '"' or '\\'.
//
//go:noescape
func quoteWords(b *byte, words int, out *uint64)

// haveQuoteMap tells whether quoteMap is fast here (SSE2): lookup uses
// it, other platforms keep the scan.
const haveQuoteMap = true

// quoteMap sets bit i%64 of m[i/64] for each byte data[i] that is '"' or
// '\\', and clears the others; m has len(data)/64+1 words.
func quoteMap(data []byte, m []uint64) {
	n := len(data) / 64
	_ = m[n]
	if n > 0 {
		quoteWords(&data[0], n, &m[0])
	}
	r := len(data) % 64
	if r == 0 {
		m[n] = 0
		return
	}
	var t [1]uint64
	if len(data) >= 64 {
		// The last 64 bytes again, their new part shifted into place.
		quoteWords(&data[len(data)-64], 1, &t[0])
		m[n] = t[0] >> (64 - r)
		return
	}
	var pad [64]byte
	copy(pad[:], data)
	quoteWords(&pad[0], 1, &t[0])
	m[n] = t[0]
}
