package script

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Lazy is the state of the lazy view of a JSON object record, the same in
// every language: a field the script reads is decoded when first read
// (gjson on the record's bytes); writes and deletions are recorded, and the
// output is the original bytes with just those edits applied, so the other
// fields keep their order and formatting and a record the script only
// reads costs no encoding. V is the runtime's value type.
//
// The edits are a short list (a script touches a few fields of a record),
// searched in order, with a map index once it grows past indexAfter; they
// are applied in one pass over the record's bytes (Encode). A Lazy must
// not be copied once used (it points into itself).
type Lazy[V any] struct {
	Data []byte
	// Fields, if set, is the instance's index of the current record (see
	// Instance.Fields): Lookup uses it while it is Data's.
	Fields *Fields
	// Shared lets Lookup's raw JSON (and the strings of it that need no
	// unescaping) share Data's bytes rather than a copy of the field's:
	// for a host none of whose values outlive Data's bytes (a Lua body
	// that keeps nothing of a call).
	Shared bool
	edits  []edit[V]
	index  map[string]int // key → position in edits, past indexAfter edits
	seq    int            // writes so far: the order of first writes

	// shape counts the changes of which fields are edited and how (a
	// field added to edits, or its kind changed); a write that replaces
	// a written value leaves it. Encode keeps the output's bytes around
	// the edited values as a template (tmpl), made on the second encode
	// of one shape and used until the shape changes, so that a script
	// that changes a field and emits the record again and again (one
	// record per tag) re-encodes just the changed values.
	shape    int
	encoded  int // shape+1 of the last encode, 0 if none
	tmpl     *template
	tmplData *byte // the Data tmpl was made of

	// Room for the first edits, allocated with the Lazy (a script
	// touches a few fields).
	editBuf [2]edit[V]
}

// Reset makes l the lazy view of another record, data (fields as in
// Lazy.Fields), keeping the buffers of the last one's edits and template:
// for a host that knows nothing of the last record's view is reachable any
// more (a script that keeps nothing of a call), so one view serves record
// after record.
func (l *Lazy[V]) Reset(data []byte, fields *Fields) {
	clear(l.edits) // the values, for the garbage collector
	l.Data, l.Fields = data, fields
	l.edits, l.index = l.edits[:0], nil
	l.seq, l.shape, l.encoded = 0, 0, 0
	l.tmplData = nil // the template is made again (its buffers are kept)
}

// indexAfter is how many edited fields a linear search handles before
// Lazy keeps a map of them.
const indexAfter = 16

type editKind uint8

const (
	cached  editKind = iota + 1 // decoded, may have been changed in place
	written                     // set by the script
	deleted                     // deleted by the script
)

// edit is what the script did to one field.
type edit[V any] struct {
	key   string
	kind  editKind
	first int // the field's first write (1, 2, ...), 0 if never written
	v     V
}

// find returns the position of k's edit, or -1.
func (l *Lazy[V]) find(k string) int {
	if l.index != nil {
		if i, ok := l.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range l.edits {
		if l.edits[i].key == k {
			return i
		}
	}
	return -1
}

// findKey is find for a key in bytes (no string made of them).
func (l *Lazy[V]) findKey(k []byte) int {
	if l.index != nil {
		if i, ok := l.index[string(k)]; ok {
			return i
		}
		return -1
	}
	for i := range l.edits {
		if l.edits[i].key == string(k) {
			return i
		}
	}
	return -1
}

// at returns k's edit, added (of no kind yet) if there is none.
func (l *Lazy[V]) at(k string) *edit[V] {
	if i := l.find(k); i >= 0 {
		return &l.edits[i]
	}
	if l.edits == nil {
		l.edits = l.editBuf[:0]
	}
	l.edits = append(l.edits, edit[V]{key: k})
	if n := len(l.edits); l.index != nil {
		l.index[k] = n - 1
	} else if n > indexAfter {
		l.index = make(map[string]int, 2*n)
		for i, e := range l.edits {
			l.index[e.key] = i
		}
	}
	return &l.edits[len(l.edits)-1]
}

// Lookup finds field k: a written or cached value (ok), else the field's
// raw JSON (raw.Exists() is false when there is none, or it was deleted).
func (l *Lazy[V]) Lookup(k string) (v V, ok bool, raw gjson.Result) {
	if i := l.find(k); i >= 0 {
		switch e := &l.edits[i]; e.kind {
		case written, cached:
			return e.v, true, raw
		case deleted:
			return v, false, raw
		}
	}
	if b, found, ok := l.Fields.span(l.Data, k); ok {
		switch {
		case !found:
		case l.Shared:
			raw = gjson.Parse(unsafe.String(unsafe.SliceData(b), len(b)))
		default:
			raw = gjson.ParseBytes(b)
		}
		return v, false, raw
	}
	return v, false, gjson.GetBytes(l.Data, FieldPath(k))
}

// Cache keeps v, decoded from field k, for the next Lookup: a decoded
// object or array the script may change in place, and whose changes the
// output then carries.
func (l *Lazy[V]) Cache(k string, v V) {
	e := l.at(k)
	l.kind(e, cached)
	e.v = v
}

// kind sets the kind of e, a change of shape if it is another.
func (l *Lazy[V]) kind(e *edit[V], k editKind) {
	if e.kind != k {
		e.kind = k
		l.shape++
	}
}

// Set records the write of v to field k.
func (l *Lazy[V]) Set(k string, v V) {
	e := l.at(k)
	if e.first == 0 {
		l.seq++
		e.first = l.seq
	}
	l.kind(e, written)
	e.v = v
}

// Delete records the deletion of field k.
func (l *Lazy[V]) Delete(k string) {
	e := l.at(k)
	var zero V
	l.kind(e, deleted)
	e.v = zero
}

// Has reports whether field k exists (written, or in the record and not
// deleted); like Lookup, it uses Fields while it is Data's.
func (l *Lazy[V]) Has(k string) bool {
	if i := l.find(k); i >= 0 {
		switch l.edits[i].kind {
		case written:
			return true
		case deleted:
			return false
		}
	}
	if _, found, ok := l.Fields.span(l.Data, k); ok {
		return found
	}
	return gjson.GetBytes(l.Data, FieldPath(k)).Exists()
}

// Keys lists the record's fields that were neither deleted nor written, in
// their order, then the written ones in the order first written.
func (l *Lazy[V]) Keys() []string {
	var keys []string
	gjson.ParseBytes(l.Data).ForEach(func(k, _ gjson.Result) bool {
		if i := l.find(k.Str); i < 0 || l.edits[i].kind == cached {
			keys = append(keys, k.Str)
		}
		return true
	})
	var buf [indexAfter]int
	for _, i := range l.writtenOrder(buf[:0]) {
		keys = append(keys, l.edits[i].key)
	}
	return keys
}

// writtenOrder returns the positions of the written fields in edits, in
// the order they were first written, appended to w.
func (l *Lazy[V]) writtenOrder(w []int) []int {
	for i := range l.edits {
		if l.edits[i].kind == written {
			w = append(w, i)
		}
	}
	// Insertion sort: a script writes a few fields.
	for i := 1; i < len(w); i++ {
		for j := i; j > 0 && l.edits[w[j]].first < l.edits[w[j-1]].first; j-- {
			w[j], w[j-1] = w[j-1], w[j]
		}
	}
	return w
}

// Encoder encodes the values of a lazy view's fields.
type Encoder[V any] interface {
	// EncodeField encodes v, the value of field k, as raw JSON, or
	// reports that writing it deletes the field (JavaScript's undefined).
	EncodeField(k string, v V) (raw []byte, del bool, err error)
}

// FieldAppender is an Encoder that can also append a field's raw JSON to
// a buffer (no allocation of its own); Encode uses it when it can.
type FieldAppender[V any] interface {
	Encoder[V]
	// AppendField appends the raw JSON of v, the value of field k, to b,
	// or reports (b unchanged) that writing it deletes the field.
	AppendField(b []byte, k string, v V) (out []byte, del bool, err error)
}

// appendField appends the raw JSON of edit e's value to b.
func appendField[V any](b []byte, enc Encoder[V], e *edit[V]) ([]byte, bool, error) {
	if a, ok := enc.(FieldAppender[V]); ok {
		return a.AppendField(b, e.key, e.v)
	}
	raw, del, err := enc.EncodeField(e.key, e.v)
	if err != nil || del {
		return b, del, err
	}
	return append(b, raw...), false, nil
}

// template is an encoded record with holes where the edited values go:
// the output is lit[:holes[0].at], the value of edits[holes[0].edit],
// lit[holes[0].at:holes[1].at], ... and lit[holes[len-1].at:]. It serves
// the encodes of one shape of edits (see Lazy.shape); -1: none.
type template struct {
	shape   int
	lit     []byte
	holes   []hole
	vals    int // the values' size at the last encode: the next output's capacity
	holeBuf [4]hole
}

type hole struct{ at, edit int }

// Encode returns the record with the edits applied: a written or cached
// field replaces the value of the field of that name (its first
// occurrence) in place, a deleted one goes with its comma, and written
// fields the record did not have are added at the end, in the order first
// written. The record is read once (see encodeOnePass); what that pass does
// not handle (a field name that needs escaping, bytes around the object)
// goes through sjson, edit by edit, with the same result. Encoded again
// with the same fields edited the same way (only written values replaced,
// or tables changed in place), the record is not read again: the bytes
// around the edited values are kept from the last encode (see template).
// The result is the caller's, except with no edits, when it is Data.
func (l *Lazy[V]) Encode(enc Encoder[V]) ([]byte, error) { return l.encode(enc, false, nil) }

// EncodeAgain is Encode for a caller that expects to encode the record
// again with the same fields edited (emit in a loop, one record per tag):
// it keeps the bytes around the edited values at once, where Encode waits
// for the second encode of the same edits.
func (l *Lazy[V]) EncodeAgain(enc Encoder[V]) ([]byte, error) { return l.encode(enc, true, nil) }

// EncodeAgainTo is EncodeAgain writing the record into buf (from its
// start, growing it as needed) rather than into a new slice, for a caller
// that copies it on at once (a script's output record, into the batch's
// output arena): the result is then buf's, or Data (no edits), or, for
// what sjson edits, a new slice.
func (l *Lazy[V]) EncodeAgainTo(buf []byte, enc Encoder[V]) ([]byte, error) {
	return l.encode(enc, true, buf[:0])
}

// encode is Encode (again: EncodeAgain) into buf when buf is not nil.
func (l *Lazy[V]) encode(enc Encoder[V], again bool, buf []byte) ([]byte, error) {
	if len(l.edits) == 0 {
		return l.Data, nil
	}
	data := unsafe.SliceData(l.Data)
	if t := l.tmpl; t != nil && t.shape == l.shape && l.tmplData == data {
		if out, ok, err := l.fill(t, enc, buf); ok || err != nil {
			return out, err
		}
	}
	var t *template
	if again || l.encoded == l.shape+1 { // encoded again as it is now: keep a template
		if t = l.tmpl; t == nil {
			t = new(template)
		}
		t.shape, t.lit, t.holes, t.vals = -1, t.lit[:0], t.holeBuf[:0], 0
	}
	l.encoded = l.shape + 1
	out, ok, err := l.encodeOnePass(enc, t, buf)
	if ok || err != nil {
		if ok && t != nil && t.shape >= 0 { // made (no value deleted its field)
			l.tmpl, l.tmplData = t, data
		}
		return out, err
	}
	return l.encodeEdits(enc)
}

// fill encodes the record by template t; ok is false (nothing done) when an
// edited value now deletes its field (JavaScript's undefined).
func (l *Lazy[V]) fill(t *template, enc Encoder[V], buf []byte) (out []byte, ok bool, err error) {
	if out = buf; out == nil {
		out = make([]byte, 0, len(t.lit)+t.vals+t.vals/4+8)
	}
	prev := 0
	for _, h := range t.holes {
		out = append(out, t.lit[prev:h.at]...)
		var del bool
		if out, del, err = appendField(out, enc, &l.edits[h.edit]); err != nil || del {
			return nil, false, err
		}
		prev = h.at
	}
	out = append(out, t.lit[prev:]...)
	t.vals = len(out) - len(t.lit)
	return out, true, nil
}

// encodeOnePass applies the edits in one pass over the record's bytes. ok
// is false (nothing done) for what it leaves to encodeEdits: an edited
// field name that gjson/sjson paths escape or that is empty, a record field
// name with escapes, bytes before '{' or after '}', bytes that are not an
// object. With t (empty), it also fills in t (the output without the
// edited values, and where they go) and sets its shape, unless an edited
// value deleted its field.
func (l *Lazy[V]) encodeOnePass(enc Encoder[V], t *template, buf []byte) (out []byte, ok bool, err error) {
	for i := range l.edits {
		if k := l.edits[i].key; k == "" || !plainPath(k) || !plainKey(k) {
			return nil, false, nil
		}
	}
	d := l.Data
	if len(d) < 2 || d[0] != '{' || d[len(d)-1] != '}' {
		return nil, false, nil
	}
	var doneBuf [indexAfter]bool // edits applied to a field of the record
	done := doneBuf[:0]
	if len(l.edits) > indexAfter {
		done = make([]bool, len(l.edits))
	} else {
		done = done[:len(l.edits)]
	}
	// holes: where the edited values are in out (start, end, edit).
	var holeBuf [indexAfter][3]int
	holes := holeBuf[:0]
	tmplOK := t != nil
	// put appends the value of edit j, or reports that it deletes its field.
	put := func(j int) (bool, error) {
		start := len(out)
		var del bool
		var perr error
		out, del, perr = appendField(out, enc, &l.edits[j])
		if perr != nil || del {
			tmplOK = false
			return del, perr
		}
		if tmplOK {
			holes = append(holes, [3]int{start, len(out), j})
		}
		return false, nil
	}
	var idx []field // the record's fields, when the instance's index is d's
	if f := l.Fields; f != nil && f.data == unsafe.SliceData(d) && f.n == len(d) && f.data != nil {
		idx = f.fields
	}
	if out = buf; out == nil {
		out = make([]byte, 0, len(d)+64)
	}
	out = append(out, '{')
	kept := false // a field was written out
	// Fields left as they are, one after the other, are copied as one
	// run d[run:runEnd] (with the commas between them) when a field that
	// changes, or the end, comes; -1: none pending.
	run, runEnd := -1, 0
	i := skipSpace(d, 1)
	if d[i] != '}' {
		sep := 0 // the '{' or ',' before the field
		for {
			// "key" ws : ws value ws (, or })
			var ks, ke, vs, ve int
			if idx != nil { // read already (Fields)
				ks, ke, vs, ve = idx[0].ks, idx[0].ke, idx[0].vs, idx[0].ve
				idx = idx[1:]
			} else {
				if d[i] != '"' {
					return nil, false, nil
				}
				ks = i + 1
				var esc bool
				ke, esc = scanString(d, i)
				if ke < 0 || esc {
					return nil, false, nil
				}
				c := skipSpace(d, ke+1)
				if d[c] != ':' {
					return nil, false, nil
				}
				vs = skipSpace(d, c+1)
				if ve = scanValue(d, vs); ve < 0 {
					return nil, false, nil
				}
			}
			end := skipSpace(d, ve) // the ',' or '}' after the field
			if end >= len(d) || (d[end] != ',' && d[end] != '}') {
				return nil, false, nil
			}
			j := -1
			if f := l.findKey(d[ks:ke]); f >= 0 && !done[f] {
				done[f] = true
				j = f
			}
			if j >= 0 && run >= 0 {
				out = append(out, d[run:runEnd]...)
				run = -1
			}
			switch {
			case j >= 0 && l.edits[j].kind == deleted:
				// As sjson deletes a field: with the comma before it, or
				// the one after it when it is the first.
				if kept {
					out = append(out, d[ve:end]...)
				}
			case j >= 0 && (l.edits[j].kind == written || l.edits[j].kind == cached):
				// The new value goes where the old one was; when it
				// deletes the field, the field goes as a deleted one.
				mark := len(out)
				if kept {
					out = append(out, ',')
				}
				out = append(out, d[sep+1:vs]...)
				del, perr := put(j)
				if perr != nil {
					return nil, false, perr
				}
				if del {
					out = out[:mark]
					if kept {
						out = append(out, d[ve:end]...)
					}
					break
				}
				out = append(out, d[ve:end]...)
				kept = true
			default:
				if run < 0 {
					if kept {
						out = append(out, ',')
					}
					run = sep + 1
				}
				runEnd = end
				kept = true
			}
			if d[end] == '}' {
				if end != len(d)-1 || !kept {
					// Every field deleted: sjson's blanks depend on the
					// order of the deletions.
					return nil, false, nil
				}
				break
			}
			sep = end
			i = skipSpace(d, end+1)
			if i >= len(d) {
				return nil, false, nil
			}
		}
		if run >= 0 {
			out = append(out, d[run:runEnd]...)
		}
	} else if i != len(d)-1 {
		return nil, false, nil
	} else {
		out = append(out, d[1:i]...) // "{ }" keeps its blanks, as sjson does
	}
	// Written fields the record does not have, in the order first written.
	var orderBuf [indexAfter]int
	for _, j := range l.writtenOrder(orderBuf[:0]) {
		if done[j] {
			continue
		}
		e := &l.edits[j]
		mark := len(out)
		if kept {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, e.key...)
		out = append(out, '"', ':')
		del, perr := put(j)
		if perr != nil {
			return nil, false, perr
		}
		if del {
			out = out[:mark]
			continue
		}
		kept = true
	}
	out = append(out, '}')
	if tmplOK {
		t.shape = l.shape
		prev := 0
		for _, h := range holes {
			t.lit = append(t.lit, out[prev:h[0]]...)
			t.holes = append(t.holes, hole{at: len(t.lit), edit: h[2]})
			t.vals += h[1] - h[0]
			prev = h[1]
		}
		t.lit = append(t.lit, out[prev:]...)
	}
	return out, true, nil
}

// encodeEdits applies the edits to a copy of the record one by one with
// sjson: the cached values (changed in place or not), the deletions, then
// the writes in the order first written.
func (l *Lazy[V]) encodeEdits(enc Encoder[V]) ([]byte, error) {
	out := append([]byte(nil), l.Data...)
	var err error
	del := func(k string) {
		if err == nil && gjson.GetBytes(out, FieldPath(k)).Exists() {
			out, err = sjson.DeleteBytes(out, FieldPath(k))
		}
	}
	set := func(k string, v V) {
		if err != nil {
			return
		}
		raw, isDel, eerr := enc.EncodeField(k, v)
		switch {
		case eerr != nil:
			err = eerr
		case isDel:
			del(k)
		default:
			out, err = sjson.SetRawBytes(out, FieldPath(k), raw)
		}
	}
	for _, e := range l.edits {
		if e.kind == cached {
			set(e.key, e.v)
		}
	}
	for _, e := range l.edits {
		if e.kind == deleted {
			del(e.key)
		}
	}
	var buf [indexAfter]int
	for _, i := range l.writtenOrder(buf[:0]) {
		set(l.edits[i].key, l.edits[i].v)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// plainKey reports whether k is written between quotes as it is (sjson
// escapes the names of the fields it adds otherwise).
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < ' ' || c > 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// skipSpace returns the position of the first non-blank byte of d at or
// after i (len(d) if none).
func skipSpace(d []byte, i int) int {
	// (Most bytes are past ' ': one comparison for them.)
	for i < len(d) && d[i] <= ' ' && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the position of the closing quote of the string that
// opens at d[i], and whether it has escapes; -1 if it is not closed.
func scanString(d []byte, i int) (int, bool) {
	esc := false
	for i++; i < len(d); i++ {
		// Eight bytes at a time to the next quote or backslash.
		for i+8 <= len(d) {
			if m := quoteOrBackslash(binary.LittleEndian.Uint64(d[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			break
		}
		switch d[i] {
		case '\\':
			esc = true
			i++
		case '"':
			return i, esc
		}
	}
	return -1, esc
}

// quoteOrBackslash returns, for the eight bytes of w (little endian), a
// word whose lowest set bit is the high bit of the first byte that is '"'
// or '\\' (0 if none). Bits above it may be set wrongly (a borrow).
func quoteOrBackslash(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b := w^(lo*'"'), w^(lo*'\\')
	return ((q-lo)&^q | (b-lo)&^b) & hi
}

// scanValue returns the end (exclusive) of the JSON value that starts at
// d[i], or -1. d is valid JSON: only where the value ends is found.
func scanValue(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		e, _ := scanString(d, i)
		if e < 0 {
			return -1
		}
		return e + 1
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				e, _ := scanString(d, i)
				if e < 0 {
					return -1
				}
				i = e
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(d); j++ {
		switch d[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
	}
	return -1
}
