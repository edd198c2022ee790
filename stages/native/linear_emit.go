package native

import (
	"encoding/binary"
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
	run   []runOp // ops as fastRun does them
	tail0 uint64  // the last value's closing quote, if a string, and '}', as a word
	tailN int
	// c1 and c2 are bytes that end an eNot scan and are in no other stop
	// map (the stop map's stopOwn: a scan for one that meets the other
	// leaves the op to the general path).
	c1, c2 byte
	owns   int      // how many of c1 and c2 are taken
	big    []uint64 // the stop map of lines longer than emit's on the stack
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
// when 0), then what its kind says. The fields emit reads for every line
// come first.
type emitOp struct {
	// The literal as a word, compared under litMask when the text has
	// eight bytes left, else byte by byte (lit).
	litW, litMask uint64
	// Fields: conn is what comes before the value: '{' or the closing
	// quote of the value before, then ,"name": and an opening quote when
	// the value is a string; its first sixteen bytes as two words.
	conn0, conn1 uint64
	tab          *[256]bool // eSpace, eTab, eSkip: the class
	litN, connN  int
	min          int // eSpace, eNot, eTab, eSkip: the least number of bytes
	kind         emitKind
	vkind        valueType
	not          byte // eNot
	digits       bool // eTab's class is [0-9]
	spaceStop    bool // eSkip's class stops at white space (lnode.spaceStop)
	lit          []byte
	conn         []byte
	node         *lnode  // eSkip, eSpace, eNot, eTab: the scan
	nodes        []lnode // eNodes, eGroup
	name         string
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
		op.connN, op.conn = len(c), c
		cw := padded(c)
		op.conn0, op.conn1 = load64(cw, 0), load64(cw, 8)
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
			add(emitOp{kind: eSkip, node: &s, min: s.min, tab: s.tab, spaceStop: s.kind == lScan && s.spaceStop})
		case n.kind == lCapScan || n.kind == lCapNot:
			op := emitOp{kind: eTab, node: n, tab: n.tab, min: n.min, not: n.not}
			switch {
			case n.kind == lCapNot:
				op.kind = eNot
			case n.spaceStop:
				op.kind = eSpace
			default:
				op.digits = isDigits(n)
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
			op := emitOp{kind: eGroup, nodes: prog[k+1 : end]}
			if digitsBranch(op.nodes) {
				op.digits, op.min = true, 1 // \d+|-: the digits' fast path
			}
			if !field(op, byGroup[n.cap]) {
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
	e.run = make([]runOp, len(e.ops))
	for k := range e.ops {
		e.run[k] = e.runOp(&e.ops[k])
	}
	var t []byte
	if prev.kind == typeString {
		t = append(t, '"')
	}
	t = append(t, '}')
	e.tailN, e.tail0 = len(t), load64(padded(t), 0)
	e.extra += 16
	return e
}

// isDigits reports whether n is a scan of [0-9].
func isDigits(n *lnode) bool {
	if n.kind != lScan && n.kind != lCapScan {
		return false
	}
	for c := range 256 {
		if n.tab[c] != (c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// digitsBranch reports whether nodes are an alternation of which one
// branch is \d+ alone (\d+|-): when the text starts with a digit, the
// group is the digits from there.
func digitsBranch(nodes []lnode) bool {
	if len(nodes) != 1 || nodes[0].kind != lAlt {
		return false
	}
	for _, b := range nodes[0].subs {
		if len(b) == 1 && isDigits(&b[0]) && b[0].min == 1 {
			return true
		}
	}
	return false
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

// emitState is where emit is in a line: text[i:] is left to match, the
// output is written at buf[d:].
type emitState struct {
	text []byte
	buf  []byte // dst up to its capacity
	i, d int
}

// emitMapWords is how many words of stop map emit keeps on its stack:
// lines of up to 255 bytes.
const emitMapWords = 16

// emit appends the JSON object of text to dst and returns it, or returns
// dst and false when it does not handle text (see linearEmitter); it may
// then have written into dst's free capacity. dst's capacity past its
// length is its own.
//
// fastRun does the ops it can in the common case (the literal, the field's
// end found in the line's stop map, nothing to escape or convert) without
// a call, so that it keeps its values in registers; op, the general path,
// does the one it stops at.
func (e *linearEmitter) emit(dst, text []byte) ([]byte, bool) {
	if cap(dst)-len(dst) < len(text)+e.extra {
		return dst, false
	}
	// Invariant: buf has room for what is left of text plus e.extra from
	// d on, so whole words are stored past what is written.
	buf := dst[:cap(dst)]
	k, i, d := 0, 0, len(dst)
	var stack [emitMapWords]uint64
	var sm []uint64
	if len(text) >= 8 {
		sm = stack[:]
		if n := stopMapLen(len(text)); n > len(stack) {
			if len(e.big) < n {
				e.big = make([]uint64, n)
			}
			sm = e.big
		}
		stopMap(text, e.c1, e.c2, sm)
	}
	for {
		if sm != nil {
			if k, i, d = fastRun(e.run, k, text, buf, i, d, sm); k == len(e.ops) {
				break
			}
		}
		st := emitState{text: text, buf: buf, i: i, d: d}
		if !e.op(&st, &e.ops[k]) {
			return dst, false
		}
		if k, i, d = k+1, st.i, st.d; k == len(e.ops) {
			break
		}
	}
	store64(buf, d, e.tail0)
	return buf[:d+e.tailN], true
}

// loadTail64 is text's eight bytes from i on (i < len(text), at least
// eight bytes), those past its end read as zero.
func loadTail64(text []byte, i int) uint64 {
	if i+8 <= len(text) {
		return load64(text, i)
	}
	return load64(text, len(text)-8) >> (64 - 8*(len(text)-i))
}

// op matches op from st (its literal, then the rest) and writes its field,
// if it is one: the general path of every op. It reports false when emit
// must decline.
func (e *linearEmitter) op(st *emitState, op *emitOp) bool {
	text, i := st.text, st.i
	buf, d := st.buf, st.d
	if len(text)-i < op.litN || !hasLit(text[i:], op.lit) {
		return false
	}
	i += op.litN
	var j int
	var ok bool
	switch op.kind {
	case eNone:
		st.i = i
		return true
	case eNodes:
		if j, ok = e.m.seq1(op.nodes, text, i); ok {
			st.i = j
		}
		return ok
	case eSkip:
		if n := op.node; n.kind == lScanNot {
			j, _ = scanNotByte(text, i, n.not)
		} else {
			j, _ = e.m.scan(n, text, i)
		}
		st.i = j
		return j-i >= op.min
	}
	copy(buf[d:], op.conn)
	d += op.connN
	clean := true
	switch op.kind {
	case eSpace, eTab:
		j, clean = e.m.scan(op.node, text, i)
	case eNot:
		j, clean = scanNotByte(text, i, op.not)
	case eGroup:
		e.m.dirty = 0
		if j, ok = e.m.seq1(op.nodes, text, i); !ok {
			return false
		}
		clean = e.m.dirty == 0
	}
	v := text[i:j]
	if len(v) < op.min {
		return false
	}
	var out []byte
	switch {
	case op.vkind == typeString && clean, op.vkind == typeInt && plainInt(v):
		out = append(buf[:d], v...) // as it is
	case op.vkind == typeString:
		out = appendJSONBody(buf[:d], v)
	default:
		var err error
		if out, err = appendTyped(buf[:d], op.name, v, op.vkind); err != nil {
			return false // the general path reports the error
		}
	}
	if cap(out) != cap(buf) || cap(out)-len(out) < len(text)-j+e.extra {
		return false // the output took the room of what follows
	}
	st.i, st.d = j, len(out)
	return true
}

// plainInt reports whether v is an int field's JSON as it is: digits
// without a leading zero, fewer than 19 (appendInt).
func plainInt(v []byte) bool {
	if len(v) == 0 || len(v) > 18 || v[0] == '0' && len(v) > 1 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// store64 stores w at buf[o:o+8], little endian.
func store64(buf []byte, o int, w uint64) {
	binary.LittleEndian.PutUint64(buf[o:o+8:o+8], w)
}
