package js_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
	"github.com/tidwall/gjson"
)

// Under codec ndjson a JS stage vouches for its output's JSON
// (engine.JSONPreserved): whatever a script returns or emits, at a call or
// at flush, comes out as one JSON value on one line, or fails the record.
func TestOutputIsJSON(t *testing.T) {
	if g := scripttest.NewInstance(t, "js", true, "return rec").(engine.JSONOutput).JSONOutput(); g != engine.JSONPreserved {
		t.Errorf("ndjson: guarantee %v, want JSONPreserved", g)
	}
	if g := scripttest.NewInstance(t, "js", false, "return rec").(engine.JSONOutput).JSONOutput(); g != engine.JSONUnchecked {
		t.Errorf("lines: guarantee %v, want JSONUnchecked", g)
	}
	ins := []string{
		`{"a":"x\u0000y","b":[1,{"c":null}],"k\"ey":1, "d" : 2.5e3, "u": "\ud800\udc00 \u2028", "tags": ["p", "q"] }`,
		`[1, "two", {"three": 3}]`,
		`"just a string"`,
		`-0`,
	}
	for _, code := range []string{
		`return rec`,
		`return '{"a":\n 1,\r\n\t"b": [1,\n2]}'`,
		`return ' "line\\nbreak" '`,
		`return "[\n]"`,
		`rec.a = "\0\x01\x1f\x7f\x80\xff\"\\\u2028\ud800\udfff\ud800"; rec["new\nkey"] = "\n"; rec["k\"ey"] = undefined; return rec`,
		`rec["\ud800"] = "\udc00x"; rec["\u00e9\n"] = [-0, 1e400 - 1e400 || 0, 5e-324, 1e21, 0.1]; return rec`,
		`rec.a = [NaN, Infinity]; return rec`,
		`rec.n = NaN; return rec`,
		`rec.n = 1/0; return rec`,
		`rec.x = {toJSON() { return "\ud800\n" }}; rec.y = [undefined, function(){}, Symbol("s")]; rec.z = new Date(0); return rec`,
		`rec.m = new Map([[1, 2]]); rec.r = /re/g; rec.e = new Error("e"); rec.big = {a: {b: {c: [[[{}]]]}}}; return rec`,
		`const t = {}; t.t = t; return t`,
		`emit(rec.b); emit("\n1\n"); emit(rec); rec.b = {d: "\u00e9\ud834"}; emit(rec); return rec`,
		`for (const t of (rec.tags || [])) { rec.tag = t; emit(rec) } delete rec.tags; return null`,
		`return {s: "\ud834", k: {"\udd1e": "\t"}}`,
		`return [rec, [rec], {rec}]`,
		`return 12`,
		`return -0`,
		`return "nope\n"`,
		`return ""`,
		`return 10n`,
		`return Symbol("s")`,
		`return () => 1`,
		`return {toJSON() { return undefined }}`,
		`return new String('{"boxed":\n true}')`,
	} {
		for _, in := range ins {
			tr := scripttest.NewInstance(t, "js", true, code)
			var out []*engine.Record
			err := tr.Transform(context.Background(), engine.NewRecord([]byte(in)), func(r *engine.Record) { out = append(out, r) })
			for _, r := range out {
				if !gjson.ValidBytes(r.Data) || bytes.IndexByte(r.Data, '\n') >= 0 {
					t.Errorf("%s on %s: output %q is not JSON on one line", code, in, r.Data)
				}
			}
			if err == nil && len(out) == 0 && code != `for (const t of (rec.tags || [])) { rec.tag = t; emit(rec) } delete rec.tags; return null` {
				t.Errorf("%s on %s: no output and no error", code, in)
			}
		}
	}
}

// A returned string spanning lines is compacted, as the ndjson output
// would write it; one on a line is passed on as it is.
func TestJSONStringCompacted(t *testing.T) {
	for code, want := range map[string]string{
		`return '{"a":\n 1,  "b" : [1,\n2]}'`: `{"a":1,"b":[1,2]}`,
		`return '{"a": 1,  "b" : [1, 2]}'`:    `{"a": 1,  "b" : [1, 2]}`,
	} {
		tr := scripttest.NewInstance(t, "js", true, code)
		var got string
		if err := tr.Transform(context.Background(), engine.NewRecord([]byte(`{}`)), func(r *engine.Record) { got = string(r.Data) }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
	}
}
