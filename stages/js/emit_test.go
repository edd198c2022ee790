package js_test

import (
	"context"
	"maps"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// TestEmitMeta checks that emitted records carry the input's metadata,
// also when the code never names meta (and no metadata object is made),
// each in a map of its own; and that a script that names meta emits what
// it set.
func TestEmitMeta(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		want       []map[string]string
	}{
		{"meta out of reach", `emit(rec); emit(rec); return null`,
			[]map[string]string{{"k": "v"}, {"k": "v"}}},
		{"meta named", `emit(rec); meta.k = "w"; emit(rec); return null`,
			[]map[string]string{{"k": "v"}, {"k": "w"}}},
		{"meta deleted", `delete meta.k; emit(rec); return null`,
			[]map[string]string{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := scripttest.NewInstance(t, "js", true, tc.code)
			r := engine.NewRecord([]byte(`{"a":1}`))
			r.Meta = map[string]string{"k": "v"}
			var got []*engine.Record
			if err := in.Transform(context.Background(), r, func(o *engine.Record) { got = append(got, o) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d records out, want %d", len(got), len(tc.want))
			}
			for i, o := range got {
				if !maps.Equal(o.Meta, tc.want[i]) {
					t.Errorf("record %d: meta %v, want %v", i, o.Meta, tc.want[i])
				}
			}
			if len(got) == 2 && got[0].Meta != nil {
				got[0].Meta["x"] = "y"
				if got[1].Meta["x"] != "" || r.Meta["x"] != "" {
					t.Error("emitted records share a metadata map")
				}
			}
		})
	}
}
