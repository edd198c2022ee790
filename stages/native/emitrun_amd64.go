//go:build amd64 && !purego

package native

// emitRun is fastRunGo in assembly (emitrun_amd64.s): the same ops, the
// same result. text has tlen >= 8 bytes, buf the room emit ensures, sm
// the stop map of text.
//
//go:noescape
func emitRun(ops *runOp, nops, k int, text *byte, tlen int, buf *byte, i, d int, sm *uint64) (int, int, int)

// fastRun: see fastRunGo.
func fastRun(ops []runOp, k int, text, buf []byte, i, d int, sm []uint64) (int, int, int) {
	if k >= len(ops) {
		return k, i, d
	}
	return emitRun(&ops[0], len(ops), k, &text[0], len(text), &buf[0], i, d, &sm[0])
}
