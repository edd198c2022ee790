package lua_test

import (
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// Emitted records inherit the input's metadata, also from a script that
// never names meta (its table is then not made), each with its own map.
func TestEmitKeepsMeta(t *testing.T) {
	for _, code := range []string{
		`emit(rec) emit(rec) return rec`,
		`emit(rec) emit(rec) local m = meta return rec`,
	} {
		t.Run(code, func(t *testing.T) {
			tr := scripttest.NewInstance(t, "lua", true, code)
			r := engine.NewRecord([]byte(`{"a":1}`))
			r.Set("k", "v")
			var out []*engine.Record
			if err := tr.Transform(context.Background(), r, func(r *engine.Record) { out = append(out, r) }); err != nil {
				t.Fatal(err)
			}
			if len(out) != 3 {
				t.Fatalf("%d records out, want 3", len(out))
			}
			for i, o := range out {
				if string(o.Data) != `{"a":1}` || o.Get("k") != "v" || len(o.Meta) != 1 {
					t.Errorf("record %d: %s %v, want {\"a\":1} with k=v", i, o.Data, o.Meta)
				}
			}
			out[0].Set("k", "changed")
			if out[1].Get("k") != "v" {
				t.Error("emitted records share their metadata map")
			}
		})
	}
}
