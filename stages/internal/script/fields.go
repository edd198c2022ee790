package script

import (
	"bytes"
	"unsafe"

	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
)

// Fields checks a JSON record for repeated keys as jsonkey.Any does (same
// errors, in the same order) and, in the same pass, indexes the fields of
// a record that is a plain object, so that a lazy view of it finds a field
// without parsing the record again (Lazy.Fields). One Fields serves one
// instance, record after record (its buffers are reused); it is never used
// concurrently.
type Fields struct {
	data   *byte // the record indexed; nil if none
	n      int
	fields []field
	keys   jsonkey.Checker
}

// field is one member of the indexed object: key data[ks:ke] (no
// escapes), value data[vs:ve].
type field struct{ ks, ke, vs, ve int }

// maxIndexed is the number of fields past which Fields leaves a record to
// jsonkey (which keeps a map of the keys of a large object).
const maxIndexed = 32

// Check returns a *jsonkey.Error for the first key that occurs twice in
// one object anywhere in data (see jsonkey.Any), and indexes data's fields
// when data is an object it can read in one pass: no escaped key, at most
// maxIndexed fields, nothing after the closing brace but blanks. It falls
// back to jsonkey for anything else, without an index.
func (f *Fields) Check(data []byte) error {
	f.data, f.n, f.fields = nil, 0, f.fields[:0]
	if !f.index(data) {
		f.fields = f.fields[:0]
		return f.keys.Any(data)
	}
	// The keys are unique. Nested objects are checked on their own, in
	// the order of the record, as jsonkey.Any would meet them.
	// seen has the keyBit of every key so far: a key whose bit is not
	// in it repeats none of them.
	var seen uint64
	for i, fl := range f.fields {
		k := data[fl.ks:fl.ke]
		if b := keyBit(k); seen&b == 0 {
			seen |= b
		} else {
			for _, prev := range f.fields[:i] {
				if prev.ke-prev.ks == len(k) && bytes.Equal(data[prev.ks:prev.ke], k) {
					f.fields = f.fields[:0]
					return &jsonkey.Error{Path: string(k)}
				}
			}
		}
		if v := data[fl.vs:fl.ve]; (v[0] == '{' || v[0] == '[') && bytes.IndexByte(v, '{') >= 0 {
			if err := f.keys.Any(v); err != nil {
				f.fields = f.fields[:0]
				return err
			}
		}
	}
	f.data, f.n = unsafe.SliceData(data), len(data)
	return nil
}

// keyBit is one of 64 bits picked by key k's length and first and last
// bytes: equal keys have the same.
func keyBit(k []byte) uint64 {
	h := uint(len(k))
	if len(k) > 0 {
		h += 7*uint(k[0]) + 3*uint(k[len(k)-1])
	}
	return 1 << (h & 63)
}

// index reads data's members into f.fields; false if data is not an
// object it reads (see Check).
func (f *Fields) index(d []byte) bool {
	i := skipSpace(d, 0)
	if i >= len(d) || d[i] != '{' {
		return false
	}
	i = skipSpace(d, i+1)
	if i >= len(d) {
		return false
	}
	if d[i] != '}' {
		for {
			if d[i] != '"' || len(f.fields) == maxIndexed {
				return false
			}
			ke, esc := scanString(d, i)
			if ke < 0 || esc {
				return false
			}
			c := skipSpace(d, ke+1)
			if c >= len(d) || d[c] != ':' {
				return false
			}
			vs := skipSpace(d, c+1)
			ve := scanValue(d, vs)
			if ve < 0 {
				return false
			}
			f.fields = append(f.fields, field{ks: i + 1, ke: ke, vs: vs, ve: ve})
			end := skipSpace(d, ve)
			if end >= len(d) {
				return false
			}
			if d[end] == '}' {
				i = end
				break
			}
			if d[end] != ',' {
				return false
			}
			if i = skipSpace(d, end+1); i >= len(d) {
				return false
			}
		}
	}
	return skipSpace(d, i+1) == len(d)
}

// Moved tells f that the record it indexed, from, was copied to to (the
// same bytes elsewhere): the index then serves to instead (a lazy view
// that reads a copy of the record).
func (f *Fields) Moved(from, to []byte) {
	if f.data != nil && f.data == unsafe.SliceData(from) && f.n == len(from) && len(to) == len(from) {
		f.data = unsafe.SliceData(to)
	}
}

// span finds field k of data through the index: ok is false when the
// index is not data's or cannot answer for k (then gjson does); found is
// false when data has no field k, else v is the value's bytes.
func (f *Fields) span(data []byte, k string) (v []byte, found, ok bool) {
	if f == nil || f.data == nil || f.data != unsafe.SliceData(data) || f.n != len(data) || k == "" || !plainPath(k) {
		return nil, false, false
	}
	for _, fl := range f.fields {
		if fl.ke-fl.ks == len(k) && string(data[fl.ks:fl.ke]) == k {
			return data[fl.vs:fl.ve], true, true
		}
	}
	return nil, false, true
}
