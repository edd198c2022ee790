package native

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/gjson"
)

// fastRecords are records the fast paths (topKey) must treat exactly as
// the general path does: present, missing, repeated and escaped keys,
// blanks, nesting, strings that need escapes, non-objects, and a few
// malformed records of the lines codec.
var fastRecords = []string{
	`{"level":"error","msg":"disk full","n":1}`,
	`{"level":"info","msg":"ok"}`,
	`  {"msg" : "spaced" , "level" : "error" }  `,
	`{}`,
	`{ }`,
	`{"a":{"level":"nested"},"level":"error"}`,
	`{"level":"error","a":{"level":"x"}}`,
	`{"level":"error","level":"info"}`,
	`{"level":"info","msg":"a","level":"error"}`,
	`{"le\u0076el":"error","msg":"x"}`,
	`{"msg":"x","le\u0076el":"error"}`,
	`{"level":"err\"or","msg":"quote \" and \\ back"}`,
	`{"msg":"tab\there","level":"warn"}`,
	`{"msg":"caf\u00e9 ÉCOLE","level":"error"}`,
	`{"msg":"ünïcödé","level":"error"}`,
	`{"msg":123,"level":true,"processed":false}`,
	`{"msg":null,"level":null}`,
	`{"msg":["a","b"],"level":{"x":1}}`,
	`{"processed":"already","msg":"x"}`,
	`{"processed":1234567,"msg":"x"}`,
	`{"tags":["a","}","\""],"msg":"lower"}`,
	`{"n":-1.5e3,"msg":"num"}`,
	`[1,2,3]`,
	`"just a string"`,
	`42`,
	`not json`,
	``,
	`{"msg":"unterminated`,
	`{"msg" "missing colon"}`,
	`{"msg":"x",}`,
	`{"msg":"x" "level":"y"}`,
	`{"level":"error"} trailing`,
	`{"msg":"x"`,
	// select's equals without parsing; escapes and the key's name after
	// the value, at every offset in an eight-byte word.
	`{"level":"erro\u0072","msg":"x"}`,
	`{"level":"errors","msg":"x"}`,
	`{"level":"","msg":"x"}`,
	`{"level":"error","x":"a\\b"}`,
	`{"level":"error","x":"level"}`,
	`{"level":"error","x":"levels","msg":"lower case"}`,
	`{"level":"error","x":1,"level":"error"}`,
	`{"level":"error","xx":1,"level":"error"}`,
	`{"level":"error","xxx":1,"level":"error"}`,
	`{"level":"error","xxxx":1,"level":"error"}`,
	`{"level":"error","xxxxx":1,"level":"error"}`,
	`{"level":"error","xxxxxx":1,"level":"error"}`,
	`{"level":"error","xxxxxxx":1,"level":"error"}`,
	`{"level":"error","xxxxxxxx":1,"msg":"m","level":"error"}`,
	`{"level":"error","msg":"long value with a backslash at the end \\"}`,
	`{"msg":"lower","level":"error","latency_ms":1,"lang":"l","level2":"x"}`,
	// The repeat search looks for the key's rarest byte ('v' of level,
	// 'g' of msg, 'y' of latency_ms) and compares around it: repeats
	// at the start and end of the rest, near misses, longer keys.
	`{"level":"error","level":"x"}`,
	`{"level":"error","v":"v","lev":"level","vlevel":1,"level":2}`,
	`{"level":"error","v":"levelv","leve":"evel"}`,
	`{"level":"error","msg":"m","x":"lvl","level"}`,
	`{"level":"error","msg":"m","msg":"again"}`,
	`{"latency_ms":150,"x":"latency_m","latency_ms":1}`,
	`{"latency_ms":150,"latency_mss":2,"y":"latency_ms"}`,
	`{"latency_ms":150.5,"latency_ms":2}`,
	`{"latency_mss":150,"latency_ms":99}`,
	`{"latency_m":1,"latency_ms":501}`,
	// select's equals decides strings no longer than its value by their
	// bytes (an escape makes the text shorter than the JSON).
	`{"level":"err\n","msg":"x"}`,
	`{"level":"er\\r","msg":"x"}`,
	`{"level":"e\q","msg":"x"}`,
	`{"level":"\u0065rror","msg":"x"}`,
	`{"level":"a\\b","msg":"x"}`,
	`{"level":"a\b","msg":"x"}`,
	`{"level":"a\\\\b","msg":"x"}`,
	// A newline before the object: not JSON to the general path.
	"\n{}",
	"\n{\"level\":\"error\"}",
	" \t\r{\"level\":\"error\"}",
}

// runT runs t on a copy of rec and returns what it emitted (joined by
// newlines) and its error.
func runT(t engine.Transformer, rec string) (string, error) {
	r := engine.NewRecord([]byte(rec))
	var out []string
	err := t.Transform(context.Background(), r, func(e *engine.Record) { out = append(out, string(e.Data)) })
	return fmt.Sprint(out), err
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// general returns a copy of t with its fast path turned off.
func general(t engine.Transformer) engine.Transformer {
	switch x := t.(type) {
	case *Select:
		c := *x
		c.top = topKey{}
		return &c
	case *Case:
		c := *x
		c.top = topKey{}
		return &c
	case *Set:
		c := *x
		c.simple = false
		return &c
	}
	panic(fmt.Sprintf("%T", t))
}

func fastStages(t testing.TB) []engine.Transformer {
	t.Helper()
	mk := []struct {
		new func(engine.Config) (engine.Transformer, error)
		cfg map[string]any
	}{
		{newSelect, map[string]any{"field": "level", "equals": "error"}},
		{newSelect, map[string]any{"field": "msg", "matches": "^[a-z]"}},
		{newSelect, map[string]any{"field": "level", "exists": true}},
		{newSelect, map[string]any{"field": "msg", "not_equals": 123}},
		{newSelect, map[string]any{"field": "latency_ms", "gte": 100}},
		{newSelect, map[string]any{"field": "level", "equals": `a\b`}},
		{newCase, map[string]any{"field": "msg", "to": "upper"}},
		{newCase, map[string]any{"field": "level", "to": "lower"}},
		{newSet, map[string]any{"fields": map[string]any{"processed": true}}},
		{newSet, map[string]any{"fields": map[string]any{"processed": "yes", "msg": 7}}},
		{newSet, map[string]any{"fields": map[string]any{"level": map[string]any{"a": []any{1, "x"}}}}},
	}
	var ts []engine.Transformer
	for _, m := range mk {
		tr, err := m.new(engine.ConfigOf(m.cfg))
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tr)
	}
	return ts
}

// The fast paths of select, case and set give the general path's output
// and errors, byte for byte, on every record.
func TestFastPathsMatchGeneral(t *testing.T) {
	for i, tr := range fastStages(t) {
		for _, rec := range fastRecords {
			got, gerr := runT(tr, rec)
			want, werr := runT(general(tr), rec)
			if got != want || !sameErr(gerr, werr) {
				t.Errorf("stage %d (%T) on %s:\n fast    %s %v\n general %s %v", i, tr, rec, got, gerr, want, werr)
			}
		}
	}
}

// A stage that declares engine.JSONPreserved emits valid JSON for every
// valid JSON record it is handed.
func TestFastPathsKeepJSON(t *testing.T) {
	for _, tr := range fastStages(t) {
		if tr.(engine.JSONOutput).JSONOutput() != engine.JSONPreserved {
			t.Errorf("%T does not vouch for its JSON", tr)
			continue
		}
		for _, rec := range fastRecords {
			if !gjson.Valid(rec) {
				continue
			}
			r := engine.NewRecord([]byte(rec))
			// A record may fail (set on an array, a repeated key): it is
			// then not emitted. What is emitted must be JSON.
			_ = tr.Transform(context.Background(), r, func(e *engine.Record) {
				if !gjson.ValidBytes(e.Data) || containsNewline(e.Data) {
					t.Errorf("%T: %s became %s", tr, rec, e.Data)
				}
			})
		}
	}
	whole, _ := newCase(engine.ConfigOf(map[string]any{"to": "upper"}))
	if whole.(engine.JSONOutput).JSONOutput() != engine.JSONUnchecked {
		t.Error("case of a whole record vouches for JSON (true becomes TRUE)")
	}
	nested, _ := newSet(engine.ConfigOf(map[string]any{"fields": map[string]any{"a.b": 1}}))
	if nested.(engine.JSONOutput).JSONOutput() != engine.JSONUnchecked {
		t.Error("set of a nested path vouches for JSON")
	}
}

func containsNewline(b []byte) bool {
	for _, c := range b {
		if c == '\n' {
			return true
		}
	}
	return false
}

func FuzzFastPaths(f *testing.F) {
	for _, r := range fastRecords {
		f.Add(r)
	}
	ts := fastStages(f)
	f.Fuzz(func(t *testing.T, rec string) {
		for i, tr := range ts {
			got, gerr := runT(tr, rec)
			want, werr := runT(general(tr), rec)
			if !gjson.Valid(rec) {
				continue // malformed records: only that nothing panics
			}
			if got != want || !sameErr(gerr, werr) {
				t.Errorf("stage %d (%T) on %q:\n fast    %s %v\n general %s %v", i, tr, rec, got, gerr, want, werr)
			}
		}
	})
}

// benchRecords are records shaped like the shared generator's (W1).
var benchRecords = []string{
	`{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}`,
	`{"ts":"2026-01-01T00:00:00.001409Z","level":"warn","service":"search","method":"PUT","path":"/v1/orders","status":200,"latency_ms":136.482,"user":"u72475","msg":"failed connection quota retry payment upstream retry request","tags":["us"]}`,
}

// lookupKeys are the keys TestLookupMap and FuzzLookupMap look up.
var lookupKeys = []string{"level", "msg", "processed", "latency_ms", "tags", "ts", "a", "n", "x", "le"}

// lookupMap (the quote map) and lookupScan give the same answer on every
// record, for records moved across the map's 64-byte words by leading
// blanks.
func TestLookupMap(t *testing.T) {
	if !haveQuoteMap {
		t.Skip("no quote map on this platform")
	}
	recs := append(append([]string{}, fastRecords...), benchRecords...)
	recs = append(recs, `{"msg":"`+strings.Repeat("x", 2000)+`","level":"error"}`)
	for _, rec := range recs {
		for pad := 0; pad < 70; pad++ {
			data := []byte(strings.Repeat(" ", pad) + rec)
			checkLookupMap(t, data)
		}
	}
}

func checkLookupMap(t *testing.T, data []byte) {
	t.Helper()
	for _, key := range lookupKeys {
		k := newTopKey(key)
		vs, ve, found, ok := k.lookupScan(data)
		var mvs, mve int
		var mfound, mok bool
		if len(data) < quoteMapWords*64 {
			mvs, mve, mfound, mok = k.lookupMap(data)
		} else {
			mvs, mve, mfound, mok = k.lookup(data)
		}
		if mvs != vs || mve != ve || mfound != found || mok != ok {
			t.Fatalf("key %q in %q: lookupMap %d %d %v %v, lookupScan %d %d %v %v", key, data, mvs, mve, mfound, mok, vs, ve, found, ok)
		}
	}
}

func FuzzLookupMap(f *testing.F) {
	if !haveQuoteMap {
		f.Skip("no quote map on this platform")
	}
	for _, r := range fastRecords {
		f.Add(r)
	}
	for _, r := range benchRecords {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, rec string) { checkLookupMap(t, []byte(rec)) })
}

// BenchmarkW1Stages runs W1's stages (select level == error, case msg
// upper, set processed: true) on one record, with their fast paths
// ("fast") and without ("general": gjson, jsonkey.Path and sjson).
func BenchmarkW1Stages(b *testing.B) {
	mk := func(fast bool) []engine.Transformer {
		sel, _ := newSelect(engine.ConfigOf(map[string]any{"field": "level", "equals": "error"}))
		cs, _ := newCase(engine.ConfigOf(map[string]any{"field": "msg", "to": "upper"}))
		st, _ := newSet(engine.ConfigOf(map[string]any{"fields": map[string]any{"processed": true}}))
		ts := []engine.Transformer{sel, cs, st}
		if !fast {
			for i, t := range ts {
				ts[i] = general(t)
			}
		}
		return ts
	}
	for _, mode := range []string{"fast", "general"} {
		b.Run(mode, func(b *testing.B) {
			ts := mk(mode == "fast")
			buf := make([]byte, 0, 512)
			ctx := context.Background()
			var out *engine.Record
			emit := func(r *engine.Record) { out = r }
			b.ReportAllocs()
			for b.Loop() {
				buf = append(buf[:0], benchRecords[0]...)
				r := engine.NewRecord(buf)
				for _, t := range ts {
					out = nil
					if err := t.Transform(ctx, r, emit); err != nil || out == nil {
						b.Fatal(err)
					}
					r = out
				}
			}
		})
	}
}
