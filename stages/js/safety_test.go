package js_test

import (
	"strings"
	"testing"
)

// failing is a pipeline of one ndjson js stage under on_error: fail.
func failing(code string) string {
	return "input: {codec: ndjson}\nstages:\n  - name: s\n    type: js\n    code: |\n      " + code + "\n"
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
		out, _, err := run(t, failing("delete rec.password; return rec"), in+"\n")
		if err == nil || !strings.Contains(err.Error(), "record 1: duplicate key") || out != "" {
			t.Errorf("%s: out %q, err %v; want a duplicate key record error", in, out, err)
		}
	}
	out, _, err := run(t, failing("delete rec.password; return rec"), `{"password":"a","u":{"password":1},"v":[{"password":2}]}`+"\n")
	if err != nil || out != `{"u":{"password":1},"v":[{"password":2}]}`+"\n" {
		t.Errorf("keys repeated in other objects: out %q, err %v", out, err)
	}
}

// NaN and ±Infinity are record errors, as in the lua stage, not null.
func TestNonFiniteNumbersFailTheRecord(t *testing.T) {
	for _, code := range []string{
		"rec.n = Infinity; return rec",
		"return {a: NaN}",
		"return {a: [1, -Infinity]}",
		"return NaN",
		"return {a: null, b: new Number(NaN)}",
		"rec.x = {y: 0/0}; return rec",
		"emit({v: 1/0}); return null",
	} {
		out, _, err := run(t, failing(code), `{"n":1}`+"\n")
		if err == nil || !strings.Contains(err.Error(), "JSON has no NaN or Infinity") || out != "" {
			t.Errorf("%s: out %q, err %v; want a record error", code, out, err)
		}
	}
	out, _, err := run(t, failing("return {a: null, b: [null, 1.5]}"), `{"n":1}`+"\n")
	if err != nil || out != `{"a":null,"b":[null,1.5]}`+"\n" {
		t.Errorf("null stays null: out %q, err %v", out, err)
	}
}
