//go:build !amd64 || purego

package native

// fastRun: see fastRunGo.
func fastRun(ops []runOp, k int, text, buf []byte, i, d int, sm []uint64) (int, int, int) {
	return fastRunGo(ops, k, text, buf, i, d, sm)
}
