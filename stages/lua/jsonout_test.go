package lua_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
	"github.com/tidwall/gjson"
)

// Under codec ndjson a Lua stage vouches for its output's JSON
// (engine.JSONPreserved): whatever a script returns or emits comes out as
// one JSON value on one line, or fails the record.
func TestOutputIsJSON(t *testing.T) {
	if g := scripttest.NewInstance(t, "lua", true, "return rec").(engine.JSONOutput).JSONOutput(); g != engine.JSONPreserved {
		t.Errorf("ndjson: guarantee %v, want JSONPreserved", g)
	}
	if g := scripttest.NewInstance(t, "lua", false, "return rec").(engine.JSONOutput).JSONOutput(); g != engine.JSONUnchecked {
		t.Errorf("lines: guarantee %v, want JSONUnchecked", g)
	}
	in := `{"a":"x\u0000y","b":[1,{"c":null}],"k\"ey":1, "d" : 2.5e3 }`
	for _, code := range []string{
		`return rec`,
		`return '{"a":\n 1,\r\n\t"b": [1,\n2]}'`,
		`return ' "line\\nbreak" '`,
		`return "[\n]"`,
		`rec.a = "\0\1\31\127\128\255\"\\" rec["new\nkey"] = "\n" rec["k\"ey"] = nil return rec`,
		`rec.n = 0/0 return rec`,
		`rec.n = 1/0 return rec`,
		`rec.x = {[1] = 1, [3] = 3} rec.y = {1, 2, {}} rec.z = {[2.5] = "f"} return rec`,
		`local t = {} t[t] = 1 return t`,
		`emit(rec.b) emit("\n1\n") emit(rec.b[2]) rec.b[2].c = {d = "\226\130"} return rec`,
		`return {s = "\237\160\128", e = pipe.null}`,
		`return 12`,
		`return "nope\n"`,
		`return ""`,
	} {
		tr := scripttest.NewInstance(t, "lua", true, code)
		var out []*engine.Record
		err := tr.Transform(context.Background(), engine.NewRecord([]byte(in)), func(r *engine.Record) { out = append(out, r) })
		for _, r := range out {
			if !gjson.ValidBytes(r.Data) || bytes.IndexByte(r.Data, '\n') >= 0 {
				t.Errorf("%s: output %q is not JSON on one line", code, r.Data)
			}
		}
		if err == nil && len(out) == 0 {
			t.Errorf("%s: no output and no error", code)
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
		tr := scripttest.NewInstance(t, "lua", true, code)
		var got string
		if err := tr.Transform(context.Background(), engine.NewRecord([]byte(`{}`)), func(r *engine.Record) { got = string(r.Data) }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
	}
}
