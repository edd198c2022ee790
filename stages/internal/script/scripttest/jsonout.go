package scripttest

import (
	"bytes"
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/gjson"
)

// JSONCase is a script for OutputIsJSON. MayDrop allows it to output
// nothing without an error (a script that only emits, and may find
// nothing to emit).
type JSONCase struct {
	Code    string
	MayDrop bool
}

// commonJSON are scripts written alike in Lua and JavaScript: the record
// as it came, returned strings of JSON spanning lines or not, one that is
// not JSON, an empty one, a number.
var commonJSON = []string{
	`return rec`,
	`return '{"a":\n 1,\r\n\t"b": [1,\n2]}'`,
	`return ' "line\\nbreak" '`,
	`return "[\n]"`,
	`return 12`,
	`return "nope\n"`,
	`return ""`,
}

// OutputIsJSON checks what a script stage of kind vouches for under codec
// ndjson (script.JSONVouching): its instances report engine.JSONPreserved
// under ndjson and engine.JSONUnchecked under lines, and every record that
// the scripts output (returned or emitted) for each of ins is one JSON
// value on one line; a script whose value has no such form fails the
// record, and no script both drops its record and reports no error unless
// its case says MayDrop. The scripts are cases, in kind's language, after
// the ones Lua and JavaScript write alike (commonJSON).
func OutputIsJSON(t *testing.T, kind string, ins []string, cases []JSONCase) {
	t.Helper()
	if g := NewInstance(t, kind, true, "return rec").(engine.JSONOutput).JSONOutput(); g != engine.JSONPreserved {
		t.Errorf("ndjson: guarantee %v, want JSONPreserved", g)
	}
	if g := NewInstance(t, kind, false, "return rec").(engine.JSONOutput).JSONOutput(); g != engine.JSONUnchecked {
		t.Errorf("lines: guarantee %v, want JSONUnchecked", g)
	}
	all := make([]JSONCase, 0, len(commonJSON)+len(cases))
	for _, code := range commonJSON {
		all = append(all, JSONCase{Code: code})
	}
	for _, c := range append(all, cases...) {
		for _, in := range ins {
			tr := NewInstance(t, kind, true, c.Code)
			var out []*engine.Record
			err := tr.Transform(context.Background(), engine.NewRecord([]byte(in)), func(r *engine.Record) { out = append(out, r) })
			for _, r := range out {
				if !gjson.ValidBytes(r.Data) || bytes.IndexByte(r.Data, '\n') >= 0 {
					t.Errorf("%s on %s: output %q is not JSON on one line", c.Code, in, r.Data)
				}
			}
			if err == nil && len(out) == 0 && !c.MayDrop {
				t.Errorf("%s on %s: no output and no error", c.Code, in)
			}
		}
	}
}

// JSONStringCompacted checks that a string of JSON a script of kind
// returns under codec ndjson is compacted when it spans lines, as the
// ndjson output would write it, and passed on as it is when it is on one
// line. (The scripts are written alike in Lua and JavaScript.)
func JSONStringCompacted(t *testing.T, kind string) {
	t.Helper()
	for code, want := range map[string]string{
		`return '{"a":\n 1,  "b" : [1,\n2]}'`: `{"a":1,"b":[1,2]}`,
		`return '{"a": 1,  "b" : [1, 2]}'`:    `{"a": 1,  "b" : [1, 2]}`,
	} {
		tr := NewInstance(t, kind, true, code)
		var got string
		if err := tr.Transform(context.Background(), engine.NewRecord([]byte(`{}`)), func(r *engine.Record) { got = string(r.Data) }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
	}
}
