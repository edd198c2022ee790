package native

import (
	"bytes"
	"math/bits"
	"regexp/syntax"
	"unicode"
	"unicode/utf8"
)

// A linearMatcher matches an anchored regular expression in one pass over
// the text, without backtracking and without Go's regexp machinery, when
// the expression is such that every choice is decided by the next byte:
//
//   - a repetition of one character class (x*, x+, x?, x{n,m}) is followed
//     by something that cannot start with a character of the class (or by
//     the end of the pattern), so the longest run is the only one that can
//     lead to a match (or, at the end of the pattern, the one leftmost-first
//     semantics prefers);
//   - the branches of an alternation cannot be empty and start with
//     different bytes, so at most one of them can match.
//
// Combined-log patterns such as `^(?P<client>\S+) \S+ \[(?P<time>[^\]]+)\]
// "(?P<req>[^"]*)" (?P<status>\d+)` are of this kind. Under these
// conditions the only possible match is found byte by byte, and its
// submatches are those regexp.FindSubmatchIndex returns (linear_test.go
// compares the two on generated patterns and texts). compileLinear returns
// nil for any other expression; the caller then uses package regexp.
type linearMatcher struct {
	seq   []lnode // the checked expression
	prog  []lnode // seq flattened for matching (see flatten)
	ncap  int     // number of capture groups, as regexp.NumSubexp
	caps  []int
	empty []int
	// clean[g] reports, after a match, that group g's text holds only
	// bytes a JSON string takes as they are (jsonPlain); false when it
	// may hold others. dirty counts the scans that may have met such a
	// byte; dirtyAt[g] is its value where group g started.
	clean   []bool
	dirty   int
	dirtyAt []int
}

// byteSet is a set of bytes.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) union(t byteSet) {
	s[0], s[1], s[2], s[3] = s[0]|t[0], s[1]|t[1], s[2]|t[2], s[3]|t[3]
}
func (s byteSet) meets(t byteSet) bool { return s[0]&t[0]|s[1]&t[1]|s[2]&t[2]|s[3]&t[3] != 0 }

type lkind uint8

const (
	lLit lkind = iota // the bytes lit
	lRep              // min to max (-1: any number) characters of set
	lCap              // capture group cap around subs[0]
	lAlt              // one of subs, chosen by firsts
	lEnd              // the end of the text

	// Only in a flattened program (linearMatcher.prog):
	lByte     // the one byte lit[0]
	lScan     // any number (at least min <= 1) of bytes in tab
	lScanNot  // any number (at least min <= 1) of bytes other than not
	lCapStart // capture group cap starts here
	lCapEnd   // capture group cap ends here
	lCapScan  // capture group cap around one lScan
	lCapNot   // capture group cap around one lScanNot
)

type lnode struct {
	kind     lkind
	lit      []byte
	set      byteSet // lRep: the ASCII bytes; all of 0x80-0xff when wide
	wide     bool    // lRep: the class has every non-ASCII character
	min, max int
	lazy     bool
	cap      int
	subs     [][]lnode
	firsts   []byteSet
	tab      *[256]bool // lScan: set as a table
	not      byte       // lScanNot: the one byte not in set
	notPat   uint64     // not in every byte of a word
	// clean: every text the node matches is made of jsonPlain bytes
	// (literals, classes of such bytes). spaceStop: lScan's class holds
	// every byte above 0x20, so a scan can look for its end with
	// notPlainOrSpace8 eight bytes at a time.
	clean, spaceStop bool
}

// flatten returns seq as a program for match: capture groups become
// start and end marks around their nodes (no call per group), one-byte
// literals compare one byte, and an unbounded repetition of a class scans
// with a table, or with bytes.IndexByte when the class is every byte but
// one ([^"]*, [^\]]+: a class holding every non-ASCII character holds
// every byte from 0x80, see classNode).
func flatten(seq []lnode) []lnode {
	var out []lnode
	for _, n := range seq {
		switch n.kind {
		case lCap:
			sub := flatten(n.subs[0])
			if len(sub) == 1 && (sub[0].kind == lScan || sub[0].kind == lScanNot) {
				one := sub[0]
				one.cap = n.cap
				one.kind = map[lkind]lkind{lScan: lCapScan, lScanNot: lCapNot}[one.kind]
				out = append(out, one)
				continue
			}
			out = append(out, lnode{kind: lCapStart, cap: n.cap})
			out = append(out, sub...)
			out = append(out, lnode{kind: lCapEnd, cap: n.cap})
		case lAlt:
			subs := make([][]lnode, len(n.subs))
			for i, b := range n.subs {
				subs[i] = flatten(b)
			}
			n.subs = subs
			out = append(out, n)
		case lLit:
			if len(n.lit) == 1 {
				n.kind = lByte
			}
			n.clean = plainRun(n.lit, 0) == len(n.lit)
			out = append(out, n)
		case lRep:
			n.clean = true
			for c := range 256 {
				if n.set.has(byte(c)) && !jsonPlain[c] {
					n.clean = false
				}
			}
			if n.max < 0 && n.min <= 1 {
				var tab [256]bool
				missing, count := 0, 0
				n.spaceStop = true
				for c := range 256 {
					tab[c] = n.set.has(byte(c))
					if !tab[c] {
						missing, count = c, count+1
						if c > ' ' {
							n.spaceStop = false
						}
					}
				}
				if count == 1 {
					n.kind, n.not, n.notPat = lScanNot, byte(missing), uint64(missing)*swarOnes
				} else {
					n.kind, n.tab = lScan, &tab
				}
			}
			out = append(out, n)
		default:
			out = append(out, n)
		}
	}
	return out
}

// linearAtStart returns a linear matcher of pattern anchored at the start,
// or nil, and whether the pattern is anchored itself (then a failed match
// at the start is a failed match).
func linearAtStart(pattern string) (*linearMatcher, bool) {
	if m := compileLinear(pattern); m != nil {
		return m, true
	}
	return compileLinear("^(?:" + pattern + ")"), false
}

// compileLinear compiles pattern (Go RE2 syntax) into a linearMatcher, or
// returns nil when the pattern is not anchored at the start or not of the
// kind described at linearMatcher.
func compileLinear(pattern string) *linearMatcher {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var items []*syntax.Regexp
	if re.Op == syntax.OpConcat {
		items = re.Sub
	} else {
		items = []*syntax.Regexp{re}
	}
	if len(items) == 0 || items[0].Op != syntax.OpBeginText {
		return nil
	}
	seq, ok := lowerSeq(items[1:])
	if !ok || !checkSeq(seq, follow{eop: true}) {
		return nil
	}
	n := re.MaxCap()
	m := &linearMatcher{seq: seq, prog: flatten(seq), ncap: n, caps: make([]int, 2*(n+1)), empty: make([]int, 2*(n+1)),
		clean: make([]bool, n+1), dirtyAt: make([]int, n+1)}
	for i := range m.empty {
		m.empty[i] = -1
	}
	return m
}

// lowerSeq turns a concatenation's items into nodes.
func lowerSeq(items []*syntax.Regexp) ([]lnode, bool) {
	var seq []lnode
	for _, it := range items {
		var ok bool
		if seq, ok = lower(seq, it); !ok {
			return nil, false
		}
	}
	return seq, true
}

func lower(seq []lnode, re *syntax.Regexp) ([]lnode, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return seq, true
	case syntax.OpConcat:
		for _, s := range re.Sub {
			var ok bool
			if seq, ok = lower(seq, s); !ok {
				return nil, false
			}
		}
		return seq, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 && foldable(re.Rune) {
			return nil, false
		}
		var b []byte
		for _, r := range re.Rune {
			if r == utf8.RuneError { // matches invalid bytes too
				return nil, false
			}
			b = utf8.AppendRune(b, r)
		}
		return append(seq, lnode{kind: lLit, lit: b}), true
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		n, ok := classNode(re)
		if !ok {
			return nil, false
		}
		n.min, n.max = 1, 1
		return append(seq, n), true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		n, ok := classNode(re.Sub[0])
		if !ok {
			return nil, false
		}
		switch re.Op {
		case syntax.OpStar:
			n.min, n.max = 0, -1
		case syntax.OpPlus:
			n.min, n.max = 1, -1
		case syntax.OpQuest:
			n.min, n.max = 0, 1
		default:
			n.min, n.max = re.Min, re.Max
		}
		n.lazy = re.Flags&syntax.NonGreedy != 0
		return append(seq, n), true
	case syntax.OpCapture:
		sub, ok := lower(nil, re.Sub[0])
		if !ok {
			return nil, false
		}
		return append(seq, lnode{kind: lCap, cap: re.Cap, subs: [][]lnode{sub}}), true
	case syntax.OpAlternate:
		n := lnode{kind: lAlt}
		for _, s := range re.Sub {
			sub, ok := lower(nil, s)
			if !ok {
				return nil, false
			}
			f, nullable := firstOf(sub)
			if nullable || f == (byteSet{}) { // empty, or starting with $

				return nil, false
			}
			for _, g := range n.firsts {
				if g.meets(f) {
					return nil, false
				}
			}
			n.subs = append(n.subs, sub)
			n.firsts = append(n.firsts, f)
		}
		return append(seq, n), true
	case syntax.OpEndText:
		return append(seq, lnode{kind: lEnd}), true
	}
	return nil, false
}

// foldable reports whether case folding changes what rs match.
func foldable(rs []rune) bool {
	for _, r := range rs {
		if unicode.SimpleFold(r) != r {
			return true
		}
	}
	return false
}

// classNode turns a one-character expression into an lRep node (count not
// set). A class must hold every non-ASCII character or none.
func classNode(re *syntax.Regexp) (lnode, bool) {
	n := lnode{kind: lRep}
	var ranges []rune
	switch re.Op {
	case syntax.OpAnyChar:
		ranges = []rune{0, unicode.MaxRune}
	case syntax.OpAnyCharNotNL:
		ranges = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	case syntax.OpCharClass:
		ranges = re.Rune
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Flags&syntax.FoldCase != 0 && foldable(re.Rune) {
			return n, false
		}
		ranges = []rune{re.Rune[0], re.Rune[0]}
	default:
		return n, false
	}
	// Every non-ASCII character, 0x80 to MaxRune, is covered by a
	// contiguous run of ranges, or none of them is.
	next := rune(0x80)
	partial := false
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for c := lo; c <= hi && c < utf8.RuneSelf; c++ {
			n.set.add(byte(c))
		}
		if hi < utf8.RuneSelf {
			continue
		}
		if max(lo, utf8.RuneSelf) != next {
			partial = true
		}
		next = hi + 1
	}
	switch {
	case next == unicode.MaxRune+1 && !partial:
		n.wide = true
		for c := 0x80; c <= 0xff; c++ {
			n.set.add(byte(c))
		}
	case next != 0x80:
		return n, false
	}
	return n, true
}

// follow is what may come after a node: bytes that may start it, and
// whether the end of the pattern may.
type follow struct {
	set byteSet
	eop bool
}

// firstOf returns the bytes that may start seq and whether seq may match
// the empty text.
func firstOf(seq []lnode) (byteSet, bool) {
	var f byteSet
	for i := range seq {
		n := &seq[i]
		switch n.kind {
		case lLit:
			f.add(n.lit[0])
			return f, false
		case lRep:
			f.union(n.set)
			if n.min > 0 {
				return f, false
			}
		case lCap:
			g, nullable := firstOf(n.subs[0])
			f.union(g)
			if !nullable {
				return f, false
			}
		case lAlt:
			for _, g := range n.firsts {
				f.union(g)
			}
			return f, false // branches are not empty
		case lEnd:
			return f, false
		}
	}
	return f, true
}

// checkSeq reports whether every repetition in seq, followed by what
// follows it and then by out, is decided by the next byte.
func checkSeq(seq []lnode, out follow) bool {
	fol := out
	for i := len(seq) - 1; i >= 0; i-- {
		n := &seq[i]
		switch n.kind {
		case lRep:
			if n.min != n.max && (n.set.meets(fol.set) || n.lazy && fol.eop) {
				return false
			}
		case lCap:
			if !checkSeq(n.subs[0], fol) {
				return false
			}
		case lAlt:
			for _, b := range n.subs {
				if !checkSeq(b, fol) {
					return false
				}
			}
		}
		f, nullable := firstOf(seq[i : i+1])
		if n.kind == lEnd {
			fol = follow{} // nothing can follow the end of the text
			continue
		}
		if nullable {
			f.union(fol.set)
			fol = follow{set: f, eop: fol.eop}
		} else {
			fol = follow{set: f}
		}
	}
	return true
}

// match returns the submatch indices of text as
// regexp.FindSubmatchIndex does, or nil. The slice is reused by the next
// call.
func (m *linearMatcher) match(text []byte) []int {
	copy(m.caps, m.empty)
	m.dirty = 0
	end, ok := m.seq1(m.prog, text, 0)
	if !ok {
		return nil
	}
	m.caps[0], m.caps[1] = 0, end
	return m.caps
}

func (m *linearMatcher) seq1(seq []lnode, text []byte, i int) (int, bool) {
	for k := range seq {
		n := &seq[k]
		switch n.kind {
		case lByte:
			if i >= len(text) || text[i] != n.lit[0] {
				return i, false
			}
			if !n.clean {
				m.dirty++
			}
			i++
		case lCapNot:
			var j int
			var clean bool
			if i+8 <= len(text) { // most groups end within their first word
				w := load64(text, i)
				x := w ^ n.notPat
				if b := ((x-swarOnes)&^x)&swarHighs | notPlain8(w); b != 0 {
					if j = i + bits.TrailingZeros64(b)/8; text[j] == n.not {
						clean = true
					} else {
						j = indexFrom(text, j, n.not)
					}
				} else {
					j, clean = scanNotByte(text, i+8, n.not)
				}
			} else {
				j, clean = scanNotByte(text, i, n.not)
			}
			if j-i < n.min {
				return i, false
			}
			m.caps[2*n.cap], m.caps[2*n.cap+1], m.clean[n.cap] = i, j, clean
			if !clean {
				m.dirty++ // for the groups around this one
			}
			i = j
		case lCapScan:
			var j int
			var clean bool
			if n.spaceStop && i+8 <= len(text) { // as scan, the first word here
				if w := notPlainOrSpace8(load64(text, i)); w == 0 {
					j, clean = m.scan(n, text, i+8)
				} else if j = i + bits.TrailingZeros64(w)/8; !n.tab[text[j]] {
					clean = true
				} else {
					j, clean = m.scan(n, text, j)
				}
			} else {
				j, clean = m.scan(n, text, i)
			}
			if j-i < n.min {
				return i, false
			}
			m.caps[2*n.cap], m.caps[2*n.cap+1], m.clean[n.cap] = i, j, clean
			if !clean {
				m.dirty++ // for the groups around this one
			}
			i = j
		case lScanNot:
			j, clean := scanNotByte(text, i, n.not)
			if j-i < n.min {
				return i, false
			}
			if !clean {
				m.dirty++
			}
			i = j
		case lScan:
			j, clean := m.scan(n, text, i)
			if j-i < n.min {
				return i, false
			}
			if !clean {
				m.dirty++
			}
			i = j
		case lCapStart:
			m.caps[2*n.cap] = i
			m.dirtyAt[n.cap] = m.dirty
		case lCapEnd:
			m.caps[2*n.cap+1] = i
			m.clean[n.cap] = m.dirty == m.dirtyAt[n.cap]
		case lLit:
			if len(text)-i < len(n.lit) || !hasLit(text[i:], n.lit) {
				return i, false
			}
			if !n.clean {
				m.dirty++
			}
			i += len(n.lit)
		case lRep:
			if n.max < 0 && n.min <= 1 {
				// Any number: a byte scan finds the same end (a class
				// with non-ASCII characters has every byte from 0x80).
				j := i
				for j < len(text) && n.set.has(text[j]) {
					j++
				}
				if j-i < n.min {
					return i, false
				}
				if !n.clean {
					m.dirty++
				}
				i = j
				continue
			}
			count := 0
			for i < len(text) && count != n.max {
				c := text[i]
				if c < utf8.RuneSelf {
					if !n.set.has(c) {
						break
					}
					i++
				} else {
					if !n.wide {
						break
					}
					_, w := utf8.DecodeRune(text[i:])
					i += w
				}
				count++
			}
			// A lazy repetition stops where the greedy one does: what
			// follows cannot start with a byte of its class (checkSeq).
			if count < n.min {
				return i, false
			}
			if !n.clean {
				m.dirty++
			}
		case lCap:
			start := i
			var ok bool
			if i, ok = m.seq1(n.subs[0], text, i); !ok {
				return i, false
			}
			m.caps[2*n.cap], m.caps[2*n.cap+1] = start, i
		case lAlt:
			if i >= len(text) {
				return i, false
			}
			b := -1
			for j := range n.firsts {
				if n.firsts[j].has(text[i]) {
					b = j
					break
				}
			}
			if b < 0 {
				return i, false
			}
			var ok bool
			if i, ok = m.seq1(n.subs[b], text, i); !ok {
				return i, false
			}
		case lEnd:
			if i != len(text) {
				return i, false
			}
		}
	}
	return i, true
}

// hasLit reports whether text starts with lit (len(text) >= len(lit)).
func hasLit(text, lit []byte) bool {
	if len(lit) > 8 {
		return string(text[:len(lit)]) == string(lit)
	}
	for k, c := range lit {
		if text[k] != c {
			return false
		}
	}
	return true
}

// scan returns the end of lScan node n's run from text[i] on, and whether
// its bytes are all jsonPlain.
func (m *linearMatcher) scan(n *lnode, text []byte, i int) (int, bool) {
	if n.spaceStop {
		// Eight bytes at a time to the first byte that is white space or
		// not plain: the end, or a byte of the class that needs escaping.
		for i+8 <= len(text) {
			if w := notPlainOrSpace8(load64(text, i)); w != 0 {
				i += bits.TrailingZeros64(w) / 8
				if !n.tab[text[i]] {
					return i, true
				}
				for i < len(text) && n.tab[text[i]] {
					i++
				}
				return i, false
			}
			i += 8
		}
	}
	clean := true
	for i < len(text) && n.tab[text[i]] {
		clean = clean && jsonPlain[text[i]]
		i++
	}
	return i, clean || n.clean
}

// scanNotByte returns the index of the first stop byte of text from i on
// (len(text) if none), and whether the bytes before it are all jsonPlain:
// eight bytes at a time to the first stop or not plain byte, then
// bytes.IndexByte.
func scanNotByte(text []byte, i int, stop byte) (int, bool) {
	pat := uint64(stop) * swarOnes
	for i+8 <= len(text) {
		w := load64(text, i)
		x := w ^ pat
		if b := ((x-swarOnes)&^x)&swarHighs | notPlain8(w); b != 0 {
			i += bits.TrailingZeros64(b) / 8
			if text[i] == stop {
				return i, true
			}
			return indexFrom(text, i, stop), false
		}
		i += 8
	}
	for ; i < len(text); i++ {
		if c := text[i]; c == stop {
			return i, true
		} else if !jsonPlain[c] {
			return indexFrom(text, i, stop), false
		}
	}
	return i, true
}

// indexFrom returns the index of the first c in text from i on, or
// len(text).
func indexFrom(text []byte, i int, c byte) int {
	if j := bytes.IndexByte(text[i:], c); j >= 0 {
		return i + j
	}
	return len(text)
}
