package native

import "math/bits"

// A runOp is an emitOp as fastRun does it: the literal (litN bytes, as a
// word under a mask), then what kind says. Its fields are words, in this
// order, for emitrun_amd64.s.
type runOp struct {
	litW, litMask uint64
	conn0, conn1  uint64 // the JSON before the value (emitOp.conn), as two words
	// A scan ends at the next byte of stop map stop, or of stopNotPlain
	// where notPlain is all ones (see stopMap).
	notPlain uint64
	litN     int
	connN    int
	min      int // the scan's least number of bytes
	stop     int
	kind     runKind
	not      int        // rNot: the byte that ends the scan
	tab      *[256]bool // rSkip, rSpace: the class (a stop byte in it needs the general path)
}

type runKind int

const (
	rNone   runKind = iota // the literal only
	rSkip                  // a scan of a class of every byte above 0x20 that is no field
	rSpace                 // a string field of such a class
	rNot                   // a string field of every byte but not
	rDigStr                // a string field of digits (\d+, \d+|-)
	rDigInt                // an int field of digits, written as it is
	rOther                 // the general path (linearEmitter.op)
)

// runOp returns op as fastRun does it, taking a byte of the stop map
// (c1, c2) for a [^x] scan whose x is in no other map.
func (e *linearEmitter) runOp(op *emitOp) runOp {
	r := runOp{litW: op.litW, litMask: op.litMask, conn0: op.conn0, conn1: op.conn1,
		litN: op.litN, connN: op.connN, min: op.min, not: int(op.not), tab: op.tab, kind: rOther}
	str := op.vkind == typeString
	switch {
	case op.kind == eNone:
		r.kind = rNone
	case op.kind == eSkip && op.spaceStop, op.kind == eSpace && str: // notPlainOrSpace8
		r.kind, r.stop, r.notPlain = rSpace, stopSpace, ^uint64(0)
		if op.kind == eSkip {
			r.kind = rSkip
		}
	case op.kind == eNot && str:
		r.stop, r.notPlain = stopNotPlain, ^uint64(0)
		switch c := op.not; {
		case c < 0x20 || c == '"' || c == '\\' || c >= 0x80: // in stopNotPlain
		case e.owns > 0 && e.c1 == c, e.owns > 1 && e.c2 == c:
			r.stop = stopOwn
		case e.owns == 0:
			e.c1, e.c2, e.owns, r.stop = c, c, 1, stopOwn
		case e.owns == 1:
			e.c2, e.owns, r.stop = c, 2, stopOwn
		default:
			return r // no map left for c
		}
		r.kind = rNot
	case (op.kind == eTab || op.kind == eGroup) && op.digits && (str || op.vkind == typeInt):
		r.kind, r.stop = rDigStr, stopNotDigit
		if !str {
			r.kind = rDigInt
		}
	}
	return r
}

// fastRunGo is fastRun in Go: ops[k:] from text[i] on (text has at least
// eight bytes), writing at buf[d:], up to the first op it does not do
// (see emit); it returns that op's index (len(ops) when it did them all)
// and where it stopped. A scan ends at the next byte of its stop map in
// sm (stopMap of text); a field's text is copied eight bytes at a time.
func fastRunGo(ops []runOp, k int, text, buf []byte, i, d int, sm []uint64) (int, int, int) {
	for ; k < len(ops); k++ {
		op := &ops[k]
		var w uint64
		switch {
		case i+8 <= len(text):
			w = load64(text, i)
		case len(text)-i >= op.litN:
			w = load64(text, len(text)-8) >> (64 - 8*(len(text)-i)) // the line's last bytes
		default:
			return k, i, d
		}
		if (w^op.litW)&op.litMask != 0 {
			return k, i, d
		}
		i0 := i + op.litN
		switch op.kind {
		case rNone:
			i = i0
			continue
		case rOther:
			return k, i, d
		}
		// The scan: the next byte of the op's stop map from i0 on.
		c, j := i0>>6, i0
		m := (sm[4*c+op.stop] | sm[4*c]&op.notPlain) >> (i0 & 63)
		for m == 0 { // the map's last word has every bit past the text set
			c++
			m, j = sm[4*c+op.stop]|sm[4*c]&op.notPlain, 64*c
		}
		j += bits.TrailingZeros64(m)
		n := j - i0
		switch op.kind {
		case rSkip, rSpace:
			// The end, or a byte of the class that needs escaping.
			if j < len(text) && op.tab[text[j]] || n < op.min {
				return k, i, d
			}
			if op.kind == rSkip {
				i = j
				continue
			}
		case rNot:
			if j >= len(text) || int(text[j]) != op.not || n < op.min {
				return k, i, d
			}
		case rDigStr:
			if n < op.min {
				return k, i, d
			}
		default: // rDigInt
			if n < op.min || n == 0 || n > 18 || n > 1 && text[i0] == '0' {
				return k, i, d // not written as it is
			}
		}
		// A field: what comes before its value, then the value.
		store64(buf, d, op.conn0)
		store64(buf, d+8, op.conn1)
		d0 := d + op.connN
		x := 0
		if i0+16 <= len(text) {
			store64(buf, d0, load64(text, i0))
			store64(buf, d0+8, load64(text, i0+8))
			x = 16
		}
		for ; x < n; x += 8 {
			store64(buf, d0+x, loadTail64(text, i0+x))
		}
		i, d = j, d0+n
	}
	return k, i, d
}
