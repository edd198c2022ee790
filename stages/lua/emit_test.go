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

// emit in a loop re-encodes what changed between emits (the record's
// template keeps the rest): written strings, a table changed in place, a
// field deleted and written again.
func TestEmitLoopEncodesChanges(t *testing.T) {
	code := `local tags = rec.tags
rec.tags = nil
rec.n = {}
for i, tag in ipairs(tags) do
  rec.tag = tag
  rec.n.i = i
  if i == 3 then rec.a = nil end
  if i == 4 then rec.a = "back" end
  emit(rec)
end`
	tr := scripttest.NewInstance(t, "lua", true, code)
	r := engine.NewRecord([]byte(`{"a":1, "tags":["x","y","z","w"],"b":true}`))
	var out []string
	if err := tr.Transform(context.Background(), r, func(r *engine.Record) { out = append(out, string(r.Data)) }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"a":1,"b":true,"n":{"i":1},"tag":"x"}`,
		`{"a":1,"b":true,"n":{"i":2},"tag":"y"}`,
		`{"b":true,"n":{"i":3},"tag":"z"}`,
		`{"a":"back","b":true,"n":{"i":4},"tag":"w"}`,
	}
	if len(out) != len(want) {
		t.Fatalf("got %q, want %q", out, want)
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("record %d: %s, want %s", i, out[i], want[i])
		}
	}
}
