package stage

import "maps"

// Record is one unit of data moving through a pipeline: bytes plus metadata.
//
// Data holds the record's bytes without any codec framing (no trailing newline).
// Under the ndjson codec it is one JSON value; under lines, one line of text.
// Meta maps string keys to string values; a nil Meta means "no metadata".
//
// Ownership: a Record handed to a Transformer belongs to that call. The
// transformer may change it and emit it, emit new records, or drop it. Data may
// alias a buffer the engine reuses once the batch leaves the pipeline, so a
// transformer that keeps bytes beyond the call (a dedupe set, an aggregate) must
// copy them.
type Record struct {
	Data []byte
	Meta map[string]string

	num int64 // input record number (1-based); 0 for records made at flush
}

// NewRecord returns a record holding data with no metadata.
func NewRecord(data []byte) *Record { return &Record{Data: data} }

// Number is the number (1-based) of the input record this record descends from,
// as read by the pipeline's input; 0 for records that a stage made at flush or
// that were not read by a pipeline input.
func (r *Record) Number() int64 { return r.num }

// Derive returns a new record holding data, carrying a copy of r's metadata and
// r's record number. It is how a transformer splits a record.
func (r *Record) Derive(data []byte) *Record {
	return &Record{Data: data, Meta: maps.Clone(r.Meta), num: r.num}
}

// Clone returns a deep copy of r (data and metadata).
func (r *Record) Clone() *Record {
	c := r.Derive(append([]byte(nil), r.Data...))
	return c
}

// Get returns the metadata value for key ("" if absent).
func (r *Record) Get(key string) string { return r.Meta[key] }

// Lookup returns the metadata value for key and whether it is set.
func (r *Record) Lookup(key string) (string, bool) {
	v, ok := r.Meta[key]
	return v, ok
}

// Set sets a metadata value, allocating Meta if needed.
func (r *Record) Set(key, value string) {
	if r.Meta == nil {
		r.Meta = make(map[string]string, 2)
	}
	r.Meta[key] = value
}

// Delete removes a metadata key.
func (r *Record) Delete(key string) { delete(r.Meta, key) }

// SetNumber sets the record number reported in errors and dead letters. The
// engine numbers the records its inputs read; use this only for records that a
// custom source feeds into Pipeline.Stream.
func (r *Record) SetNumber(n int64) { r.num = n }
