//go:build !amd64 || purego

package codec

// specialMap sets the bits of sp (zero, at least len(b)/64+1 words) for
// the special bytes of b: see ValidJSON.
func specialMap(b []byte, sp []uint64) { specialMapGo(b, sp) }
