//go:build !amd64 || purego

package native

// stopMap sets, for each byte text[i], bit i%64 of m[4*(i/64)+s] for
// each map s it is in (see stopMapBytes); the bits past the end of text
// are set in every map. m has at least stopMapLen words.
func stopMap(text []byte, c1, c2 byte, m []uint64) { stopMapBytes(text, c1, c2, m) }
