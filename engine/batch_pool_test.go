package engine

import "testing"

// A batch put back in the pool lets go of what its records held: a stage
// that replaced a record's bytes or metadata (a script's output) must not
// have them kept alive while the batch waits to be reused.
func TestPutBatchReleasesRecords(t *testing.T) {
	b := &batch{store: make([]Record, 0, 4), arena: make([]byte, 0, 64)}
	b.add([]byte("in"), 1)
	b.add([]byte("in2"), 2)
	b.store[0].Data = []byte("output of a stage")
	b.store[1].Meta = map[string]string{"k": "v"}
	putBatch(b)
	for i, r := range b.store[:2] {
		if r.Data != nil || r.Meta != nil {
			t.Errorf("record %d of a pooled batch holds %q, %v", i, r.Data, r.Meta)
		}
	}
	if got := getBatch(); got == b { // (the pool may hand it back: it is empty)
		if len(got.store) != 0 || len(got.recs) != 0 {
			t.Errorf("reused batch: %d records in store, %d in recs", len(got.store), len(got.recs))
		}
	}
}
