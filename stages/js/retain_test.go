package js_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// TestRecordKeptPastItsBatch checks that a record object the script keeps
// reads its own bytes: the engine reuses a batch's buffer once the batch is
// written, so an object that read the record's bytes in place would read
// later records (or garbage) when it is output at flush. Several batches
// of records of different lengths, small and large (copied another way).
func TestRecordKeptPastItsBatch(t *testing.T) {
	code := `var kept = [];
function transform(rec) {
  if (rec.n % 997 === 1) { kept.push(rec); if (rec.n % 2 === 0) rec.edited = true }
  return null
}
function flush() { for (const r of kept) emit(r) }`
	var in, want strings.Builder
	for n := 1; n <= 6000; n++ {
		pad := strings.Repeat("x", n%300)
		line := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, pad)
		in.WriteString(line + "\n")
		if n%997 == 1 {
			if n%2 == 0 {
				line = line[:len(line)-1] + `,"edited":true}`
			}
			want.WriteString(line + "\n")
		}
	}
	out, _, err := scripttest.Run(t, scripttest.Stage("js", code), in.String())
	if err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		t.Errorf("got\n%.2000s\nwant\n%.2000s", out, want.String())
	}
}

// TestOutputsOwnTheirBytes checks that records output from one record
// object do not share bytes with one another or with the object (a stage
// after this one may change a record's bytes in place), and that the
// unchanged record returned is the input record's own bytes.
func TestOutputsOwnTheirBytes(t *testing.T) {
	tr := scripttest.NewInstance(t, "js", true, `emit(rec); emit(rec); return rec`)
	data := []byte(`{"a":"b"}`)
	var outs []*engine.Record
	if err := tr.Transform(context.Background(), engine.NewRecord(data), func(r *engine.Record) { outs = append(outs, r) }); err != nil {
		t.Fatal(err)
	}
	if len(outs) != 3 {
		t.Fatalf("%d records out, want 3", len(outs))
	}
	seen := map[*byte]bool{}
	for i, r := range outs {
		if string(r.Data) != string(data) {
			t.Errorf("record %d: %s", i, r.Data)
		}
		p := unsafe.SliceData(r.Data)
		if seen[p] {
			t.Errorf("record %d shares its bytes with another", i)
		}
		seen[p] = true
	}
	if unsafe.SliceData(outs[2].Data) != unsafe.SliceData(data) {
		t.Error("the record returned unchanged is not the input's bytes")
	}
}
