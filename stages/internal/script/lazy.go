package script

import (
	"slices"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Lazy is the state of the lazy view of a JSON object record, the same in
// every language: a field the script reads is decoded when first read
// (gjson on the record's bytes); writes and deletions are recorded, and the
// output is the original bytes with just those edits applied (sjson), so
// the other fields keep their order and formatting and a record the script
// only reads costs no encoding. V is the runtime's value type.
type Lazy[V any] struct {
	Data    []byte
	writes  map[string]V
	order   []string // written fields, in the order first written
	deleted map[string]bool
	cache   map[string]V // decoded values the script may change in place
}

// Lookup finds field k: a written or cached value (ok), else the field's
// raw JSON (raw.Exists() is false when there is none, or it was deleted).
func (l *Lazy[V]) Lookup(k string) (v V, ok bool, raw gjson.Result) {
	if v, ok := l.writes[k]; ok {
		return v, true, raw
	}
	if l.deleted[k] {
		return v, false, raw
	}
	if v, ok := l.cache[k]; ok {
		return v, true, raw
	}
	return v, false, gjson.GetBytes(l.Data, FieldPath(k))
}

// Cache keeps v, decoded from field k, for the next Lookup: a decoded
// object or array the script may change in place, and whose changes the
// output then carries.
func (l *Lazy[V]) Cache(k string, v V) {
	if l.cache == nil {
		l.cache = map[string]V{}
	}
	l.cache[k] = v
}

// Set records the write of v to field k.
func (l *Lazy[V]) Set(k string, v V) {
	if l.writes == nil {
		l.writes = map[string]V{}
	}
	if _, ok := l.writes[k]; !ok && !slices.Contains(l.order, k) {
		l.order = append(l.order, k)
	}
	l.writes[k] = v
	delete(l.deleted, k)
	delete(l.cache, k)
}

// Delete records the deletion of field k.
func (l *Lazy[V]) Delete(k string) {
	if l.deleted == nil {
		l.deleted = map[string]bool{}
	}
	l.deleted[k] = true
	delete(l.writes, k)
	delete(l.cache, k)
}

// Has reports whether field k exists (written, or in the record and not
// deleted).
func (l *Lazy[V]) Has(k string) bool {
	if _, ok := l.writes[k]; ok {
		return true
	}
	return !l.deleted[k] && gjson.GetBytes(l.Data, FieldPath(k)).Exists()
}

// Keys lists the record's fields that were neither deleted nor written, in
// their order, then the written ones in the order first written.
func (l *Lazy[V]) Keys() []string {
	var keys []string
	gjson.ParseBytes(l.Data).ForEach(func(k, _ gjson.Result) bool {
		if _, written := l.writes[k.Str]; !l.deleted[k.Str] && !written {
			keys = append(keys, k.Str)
		}
		return true
	})
	for _, k := range l.order {
		if _, ok := l.writes[k]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// Encoder encodes the values of a lazy view's fields.
type Encoder[V any] interface {
	// EncodeField encodes v, the value of field k, as raw JSON, or
	// reports that writing it deletes the field (JavaScript's undefined).
	EncodeField(k string, v V) (raw []byte, del bool, err error)
}

// Encode returns the record with the edits applied: the cached values
// (changed in place or not), the deletions, then the writes in the order
// first written.
func (l *Lazy[V]) Encode(enc Encoder[V]) ([]byte, error) {
	if len(l.writes) == 0 && len(l.deleted) == 0 && len(l.cache) == 0 {
		return l.Data, nil
	}
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
	for k, v := range l.cache {
		set(k, v)
	}
	for k := range l.deleted {
		del(k)
	}
	for _, k := range l.order {
		if v, ok := l.writes[k]; ok {
			set(k, v)
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
