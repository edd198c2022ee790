package lua_test

import (
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// failing is a pipeline of one lua stage under on_error: fail.
func failing(codec, code string) string {
	return "input: {codec: " + codec + "}\nstages:\n  - name: s\n    type: lua\n    code: |\n      " + code + "\n"
}

// A JSON record that repeats a key fails before the script runs (package
// jsonkey): the script could otherwise delete one and pass the other.
func TestDuplicateKeysFailTheRecord(t *testing.T) {
	for _, in := range []string{
		`{"password":"a","password":"secret"}`,
		`{"password":"a","pass\u0077ord":"secret"}`,
		`{"user":{"id":1,"id":2}}`,
		`[{"k":1,"k":2}]`,
	} {
		out, _, err := scripttest.Run(t, failing("ndjson", "rec.password = nil return rec"), in+"\n")
		if err == nil || !strings.Contains(err.Error(), "record 1: duplicate key") || out != "" {
			t.Errorf("%s: out %q, err %v; want a duplicate key record error", in, out, err)
		}
	}
	out, _, err := scripttest.Run(t, failing("ndjson", "rec.password = nil return rec"), `{"password":"a","u":{"password":1},"v":[{"password":2}]}`+"\n")
	if err != nil || out != `{"u":{"password":1},"v":[{"password":2}]}`+"\n" {
		t.Errorf("keys repeated in other objects: out %q, err %v", out, err)
	}
}

// string.upper and string.lower are byte-wise, as in Lua 5.1: bytes other
// than ASCII letters, valid UTF-8 or not, are kept.
func TestCaseIsByteWise(t *testing.T) {
	out, _, err := scripttest.Run(t, failing("lines", "return string.upper(rec) .. '|' .. rec:lower()"), "caf\xe9 \xc3\xa9t\xc3\xa9 Ab\n")
	if want := "CAF\xe9 \xc3\xa9T\xc3\xa9 AB|caf\xe9 \xc3\xa9t\xc3\xa9 ab\n"; err != nil || out != want {
		t.Errorf("out %q, err %v; want %q", out, err, want)
	}
}
