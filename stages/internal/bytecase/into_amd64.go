//go:build amd64 && !purego

package bytecase

// haveBlocks reports that flipBlocks is the SSE2 loop of into_amd64.s.
const haveBlocks = true

// flipBlocks writes to dst the n bytes (a multiple of 16) of src with
// those in from..to flipped to the other case, sixteen at a time.
//
//go:noescape
func flipBlocks(dst, src *byte, n int, from, to byte)
