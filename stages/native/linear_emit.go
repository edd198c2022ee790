package native

import (
	"encoding/binary"
	"math/bits"
)

// A linearEmitter writes the JSON object of a parse_regex line while its
// linear matcher matches it, instead of matching first (submatch indices)
// and writing the fields afterwards: a group that is a field copies its
// text into the output as it scans it (eight bytes at a time for `\S+`-like
// and `[^x]*` groups), and the JSON between two values (the closing quote,
// the comma, the next key and opening quote) is one precomputed copy.
//
// It covers patterns whose field groups are at the top level of the
// pattern (not inside another field group, an alternation or a
// repetition), so that every field of a match is written, in the order of
// the groups. emit declines, and the caller runs the general path
// (linearMatcher.match, then the fields), whenever it does not handle a
// line: no match, a conversion of types: that fails or is not a plain
// copy, too little room in dst. Its output is the general path's, byte for
// byte (linear_emit_test.go compares the two).
type linearEmitter struct {
	m     *linearMatcher // its seq1 matches the nodes an emitter does not scan itself
	ops   []emitOp
	tail  []byte // padded (appendShort): the last value's closing quote, if a string, and '}'
	tailN int
	// extra bounds what a line's output takes beyond its text's length
	// when no value needs escaping, with room for eight-byte stores past
	// the end of what is written.
	extra int
}

type emitKind uint8

const (
	eNone  emitKind = iota // the literal only
	eSkip                  // a scan (lScan, lScanNot) that is no field: matched, not written
	eNodes                 // nodes that are no field, matched by seq1
	// Fields:
	eSpace // lCapScan of a class with every byte above 0x20 (spaceStop)
	eNot   // lCapNot: every byte but one
	eTab   // lCapScan of another class
	eGroup // lCapStart ... lCapEnd: the nodes between matched by seq1
)

// An emitOp matches a literal of up to eight bytes (litN of them, none
// when 0), then what its kind says.
type emitOp struct {
	// The literal as a word, compared under litMask when the text has
	// eight bytes left, else byte by byte (lit).
	litW, litMask uint64
	litN          int
	lit           []byte
	kind          emitKind
	node          *lnode  // eSkip, eSpace, eNot, eTab: the scan
	nodes         []lnode // eNodes, eGroup
	// Fields: conn is what comes before the value (padded for copy16):
	// '{' or the closing quote of the value before, then ,"name": and an
	// opening quote when the value is a string.
	conn   []byte
	connN  int
	vkind  valueType
	name   string
	digits bool // eTab's class is [0-9]: an int is the digits as they are
}

// newLinearEmitter returns the emitter of m (a linear matcher of the
// parser's pattern anchored at the start) writing fields, or nil when the
// pattern is not of the kind described at linearEmitter.
func newLinearEmitter(m *linearMatcher, fields []regexField) *linearEmitter {
	if m == nil || len(fields) == 0 {
		return nil
	}
	byGroup := map[int]*regexField{}
	for k := range fields {
		byGroup[fields[k].group] = &fields[k]
	}
	isField := func(n *lnode) bool {
		switch n.kind {
		case lCapScan, lCapNot, lCapStart, lCapEnd:
			return byGroup[n.cap] != nil
		}
		return false
	}
	e := &linearEmitter{m: m, extra: 32}
	var pend []byte // literal bytes for the next op
	add := func(op emitOp) {
		for len(pend) > 8 {
			e.ops = append(e.ops, withLit(emitOp{kind: eNone}, pend[:8]))
			pend = pend[8:]
		}
		e.ops = append(e.ops, withLit(op, pend))
		pend = nil
	}
	next := 0 // the index in fields of the next field group
	var prev *regexField
	field := func(op emitOp, f *regexField) bool {
		if next >= len(fields) || &fields[next] != f {
			return false // not in the order of the groups
		}
		next++
		var c []byte
		switch {
		case prev == nil:
			c = append(c, '{')
			c = append(c, f.key[1:f.klen]...)
		case prev.kind == typeString:
			c = append(c, '"')
			c = append(c, f.key[:f.klen]...)
		default:
			c = append(c, f.key[:f.klen]...)
		}
		op.connN, op.conn = len(c), padded(c)
		op.vkind, op.name = f.kind, f.name
		add(op)
		// The key, a value's quotes, a conversion's longest growth
		// (a float from hex, "null" for "", "false" for "F") and the
		// word stores past the value.
		e.extra += op.connN + 16 + 32
		prev = f
		return true
	}
	prog := m.prog
	for k := 0; k < len(prog); k++ {
		n := &prog[k]
		switch {
		case n.kind == lByte || n.kind == lLit:
			pend = append(pend, n.lit...)
		case n.kind == lScan || n.kind == lScanNot || (n.kind == lCapScan || n.kind == lCapNot) && !isField(n):
			s := *n
			s.kind = map[lkind]lkind{lScan: lScan, lCapScan: lScan, lScanNot: lScanNot, lCapNot: lScanNot}[n.kind]
			add(emitOp{kind: eSkip, node: &s})
		case n.kind == lCapScan || n.kind == lCapNot:
			op := emitOp{kind: eTab, node: n}
			switch {
			case n.kind == lCapNot:
				op.kind = eNot
			case n.spaceStop:
				op.kind = eSpace
			default:
				op.digits = true
				for c := range 256 {
					if n.tab[c] != (c >= '0' && c <= '9') {
						op.digits = false
					}
				}
			}
			if !field(op, byGroup[n.cap]) {
				return nil
			}
		case n.kind == lCapStart && isField(n):
			end := k + 1
			for end < len(prog) && !(prog[end].kind == lCapEnd && prog[end].cap == n.cap) {
				end++
			}
			if end == len(prog) || hasField(prog[k+1:end], isField) {
				return nil // a field inside a field
			}
			if !field(emitOp{kind: eGroup, nodes: prog[k+1 : end]}, byGroup[n.cap]) {
				return nil
			}
			k = end
		case n.kind == lCapStart || n.kind == lCapEnd:
			// A group that is no field: its nodes are matched in place.
		default: // lAlt, lRep, lEnd
			if hasField(prog[k:k+1], isField) {
				return nil // a field that may not take part
			}
			if l := len(e.ops) - 1; l >= 0 && e.ops[l].kind == eNodes && pend == nil {
				e.ops[l].nodes = append(e.ops[l].nodes, *n)
			} else {
				add(emitOp{kind: eNodes, nodes: []lnode{*n}})
			}
		}
	}
	if next != len(fields) {
		return nil
	}
	if pend != nil {
		add(emitOp{kind: eNone})
	}
	var t []byte
	if prev.kind == typeString {
		t = append(t, '"')
	}
	t = append(t, '}')
	e.tailN, e.tail = len(t), padded(t)
	e.extra += 16
	return e
}

// withLit returns op matching lit (up to eight bytes) first.
func withLit(op emitOp, lit []byte) emitOp {
	op.lit, op.litN = append([]byte(nil), lit...), len(lit)
	for j, c := range lit {
		op.litW |= uint64(c) << (8 * j)
		op.litMask |= 0xff << (8 * j)
	}
	return op
}

// hasField reports whether nodes hold a node of a field group.
func hasField(nodes []lnode, isField func(*lnode) bool) bool {
	for k := range nodes {
		n := &nodes[k]
		if isField(n) {
			return true
		}
		for _, sub := range n.subs {
			if hasField(sub, isField) {
				return true
			}
		}
	}
	return false
}

// emit appends the JSON object of text to dst and returns it, or returns
// dst and false when it does not handle text (see linearEmitter); it may
// then have written into dst's free capacity. dst's capacity past its
// length is its own.
func (e *linearEmitter) emit(dst, text []byte) ([]byte, bool) {
	d := len(dst)
	if cap(dst)-d < len(text)+e.extra {
		return dst, false
	}
	// Invariant: buf has room for what is left of text plus e.extra from
	// d on.
	buf := dst[:cap(dst)]
	i := 0
	for k := range e.ops {
		op := &e.ops[k]
		if op.litN != 0 {
			if i+8 <= len(text) {
				if (load64(text, i)^op.litW)&op.litMask != 0 {
					return dst, false
				}
			} else if len(text)-i < op.litN || !hasLit(text[i:], op.lit) {
				return dst, false
			}
			i += op.litN
		}
		switch op.kind {
		case eNone:
			continue
		case eSkip:
			n := op.node
			var j int
			if n.kind == lScanNot {
				j, _ = scanNotByte(text, i, n.not)
			} else {
				j, _ = e.m.scan(n, text, i)
			}
			if j-i < n.min {
				return dst, false
			}
			i = j
			continue
		case eNodes:
			j, ok := e.m.seq1(op.nodes, text, i)
			if !ok {
				return dst, false
			}
			i = j
			continue
		}
		// A field: what comes before its value, then the value.
		if op.connN <= 16 {
			copy16(buf[d:d+16], op.conn)
		} else {
			copy(buf[d:], op.conn[:op.connN])
		}
		d += op.connN
		j := i
		clean := true
		switch op.kind {
		case eSpace:
			n := op.node
			for {
				if j+8 > len(text) {
					for j < len(text) && n.tab[text[j]] {
						c := text[j]
						buf[d+j-i] = c
						clean = clean && jsonPlain[c]
						j++
					}
					break
				}
				w := load64(text, j)
				binary.LittleEndian.PutUint64(buf[d+j-i:], w)
				if b := notPlainOrSpace8(w); b != 0 {
					// The end (white space) or a byte of the class
					// that needs escaping.
					if j += bits.TrailingZeros64(b) / 8; n.tab[text[j]] {
						clean = false
						j, _ = e.m.scan(n, text, j)
					}
					break
				}
				j += 8
			}
			if j-i < n.min {
				return dst, false
			}
		case eNot:
			n := op.node
			for {
				if j+8 > len(text) {
					for j < len(text) && text[j] != n.not {
						c := text[j]
						buf[d+j-i] = c
						clean = clean && jsonPlain[c]
						j++
					}
					break
				}
				w := load64(text, j)
				binary.LittleEndian.PutUint64(buf[d+j-i:], w)
				x := w ^ n.notPat
				if b := ((x-swarOnes)&^x)&swarHighs | notPlain8(w); b != 0 {
					// The end or a byte that needs escaping (the
					// lowest flagged byte is exact: a borrow only runs
					// upwards).
					if j += bits.TrailingZeros64(b) / 8; text[j] != n.not {
						clean = false
						j = indexFrom(text, j, n.not)
					}
					break
				}
				j += 8
			}
			if j-i < n.min {
				return dst, false
			}
		case eTab:
			n := op.node
			for j < len(text) && n.tab[text[j]] {
				buf[d+j-i] = text[j]
				j++
			}
			if j-i < n.min {
				return dst, false
			}
			clean = n.clean || plainRun(text[:j], i) == j
		case eGroup:
			e.m.dirty = 0
			var ok bool
			if j, ok = e.m.seq1(op.nodes, text, i); !ok {
				return dst, false
			}
			clean = e.m.dirty == 0
			if clean && op.vkind == typeString {
				copy(buf[d:], text[i:j])
			}
		}
		switch {
		case op.vkind == typeString && clean:
			d += j - i
		case op.vkind == typeString:
			out := appendJSONBody(buf[:d], text[i:j])
			if cap(out) != cap(buf) || cap(out)-len(out) < len(text)-j+e.extra {
				return dst, false // the escapes took the room of what follows
			}
			d = len(out)
		case op.vkind == typeInt && op.digits && j-i > 0 && j-i < 19 && (text[i] != '0' || j-i == 1):
			d += j - i // digits without leading zeros: the int as it is
		default:
			out, err := appendTyped(buf[:d], op.name, text[i:j], op.vkind)
			if err != nil || cap(out) != cap(buf) {
				return dst, false // the general path reports the error
			}
			d = len(out)
		}
		i = j
	}
	copy16(buf[d:d+16], e.tail)
	return buf[:d+e.tailN], true
}
