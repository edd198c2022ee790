//go:build !amd64 || purego

package native

// haveQuoteMap tells whether quoteMap is fast here: without SSE2 lookup
// keeps its scan.
const haveQuoteMap = false

// quoteMap sets bit i%64 of m[i/64] for each byte data[i] that is '"' or
// '\\', and clears the others; m has len(data)/64+1 words.
func quoteMap(data []byte, m []uint64) {
	clear(m)
	for i, c := range data {
		if c == '"' || c == '\\' {
			m[i>>6] |= 1 << (i & 63)
		}
	}
}
