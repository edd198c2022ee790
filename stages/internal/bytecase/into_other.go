//go:build !amd64 || purego

package bytecase

// haveBlocks is false: FlipInto uses its eight-byte loop alone.
const haveBlocks = false

func flipBlocks(dst, src *byte, n int, from, to byte) {}
