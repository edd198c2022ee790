package js_test

import (
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// TestDeepValuesAreNotStringified: a value a script builds nested deeper
// than 200 levels (100k arrays in a loop) is refused at once, with the
// record limit's message, by JSON.stringify called by the script and by
// pipe's own conversion of what the script returns, emits or sets in a
// lazy record; under a timeout of five minutes, so that only the bound
// can end it in time. A DAG that doubles at each of 60 levels (2^60
// arrays to output) is refused too. Values within the bounds still
// convert.
func TestDeepValuesAreNotStringified(t *testing.T) {
	const build = "let a = []; for (let i = 0; i < 100000; i++) a = [a];\n"
	cases := map[string]string{
		"JSON.stringify":     build + "return {len: JSON.stringify(a).length}",
		"returned":           build + "return a",
		"emitted":            build + "emit(a); return rec",
		"set in the record":  build + "rec.deep = a; return rec",
		"DAG of 2^60 values": "let a = [1]; for (let i = 0; i < 60; i++) a = [a, a]; return {len: JSON.stringify(a).length}",
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			y := strings.Replace(scripttest.Stage("js", code), "timeout: 1s", "timeout: 5m", 1)
			out, p, err := scripttest.Run(t, y, `{"n":1}`+"\n")
			if err != nil {
				t.Fatal(err)
			}
			if out != "" {
				t.Errorf("out = %.80q; want the record failed", out)
			}
			if st := p.Stats()[1]; st.Errors != 1 || st.Timeouts != 0 {
				t.Errorf("stats %+v; want 1 error and no timeout", st)
			}
			_, _, err = scripttest.Run(t, strings.Replace(y, "on_error: drop", "on_error: fail", 1), `{"n":1}`+"\n")
			want := "nested deeper than 200 levels"
			if strings.HasPrefix(name, "DAG") {
				want = "more than 1048576 objects and arrays"
			}
			if err == nil || !strings.Contains(err.Error(), "RangeError: JSON.stringify: ") || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v; want a RangeError of JSON.stringify naming %q", err, want)
			}
		})
	}
	// Within the bounds: 200 levels, and a script that catches the error.
	code := "let a = []; for (let i = 1; i < 200; i++) a = [a];\nlet b = a; for (let i = 0; i < 10; i++) b = [b];\n" +
		"let err = ''; try { JSON.stringify(b) } catch (e) { err = e.name }\nreturn {ok: JSON.stringify(a).length, err}"
	out, _, err := scripttest.Run(t, scripttest.Stage("js", code), `{"n":1}`+"\n")
	if err != nil || out != `{"ok":400,"err":"RangeError"}`+"\n" {
		t.Errorf("out = %q, err %v; want 200 levels converted and 210 refused with a RangeError the script can catch", out, err)
	}
}
