package stage_test

import (
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/stage"
)

// TestBatchResultMisuse: an index outside the batch or out of order is
// kept as Err, and later calls are ignored.
func TestBatchResultMisuse(t *testing.T) {
	for _, tt := range []struct {
		name string
		use  func(b *stage.BatchResult)
		err  string
	}{
		{"in order", func(b *stage.BatchResult) { b.Emit(0, nil); b.Fail(0, nil); b.Emit(2, nil) }, ""},
		{"out of range", func(b *stage.BatchResult) { b.Emit(3, nil) }, "names record 3 of a batch of 3"},
		{"negative", func(b *stage.BatchResult) { b.Fail(-1, nil) }, "names record -1"},
		{"backwards", func(b *stage.BatchResult) { b.Emit(2, nil); b.Emit(1, nil) }, "record 1 came after record 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b stage.BatchResult
			b.Reset(3)
			tt.use(&b)
			if tt.err == "" {
				if b.Err() != nil || len(b.Records()) != 2 || b.NumFailed() != 1 {
					t.Fatalf("err %v, %d records, %d failures", b.Err(), len(b.Records()), b.NumFailed())
				}
				if i, err := b.Failed(0); i != 0 || err == nil {
					t.Errorf("Failed(0) = %d, %v; want 0 and a non-nil error", i, err)
				}
				if b.Source(1) != 2 {
					t.Errorf("Source(1) = %d, want 2", b.Source(1))
				}
			} else {
				if b.Err() == nil || !strings.Contains(b.Err().Error(), tt.err) {
					t.Fatalf("Err() = %v, want %q", b.Err(), tt.err)
				}
				n := len(b.Records())
				b.Emit(2, nil)
				if len(b.Records()) != n {
					t.Error("an Emit after a misuse was recorded")
				}
			}
			b.Reset(1)
			if b.Err() != nil || len(b.Records()) != 0 || b.NumFailed() != 0 {
				t.Error("Reset kept earlier results")
			}
		})
	}
}
