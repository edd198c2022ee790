package js_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// Under codec ndjson a JS stage vouches for its output's JSON
// (engine.JSONPreserved): whatever a script returns or emits, at a call or
// at flush, comes out as one JSON value on one line, or fails the record.
func TestOutputIsJSON(t *testing.T) {
	ins := []string{
		`{"a":"x\u0000y","b":[1,{"c":null}],"k\"ey":1, "d" : 2.5e3, "u": "\ud800\udc00 \u2028", "tags": ["p", "q"] }`,
		`[1, "two", {"three": 3}]`,
		`"just a string"`,
		`-0`,
	}
	var cases []scripttest.JSONCase
	// (after the scripts Lua and JavaScript write alike: see
	// scripttest.OutputIsJSON)
	for _, code := range []string{
		`rec.a = "\0\x01\x1f\x7f\x80\xff\"\\\u2028\ud800\udfff\ud800"; rec["new\nkey"] = "\n"; rec["k\"ey"] = undefined; return rec`,
		`rec["\ud800"] = "\udc00x"; rec["\u00e9\n"] = [-0, 1e400 - 1e400 || 0, 5e-324, 1e21, 0.1]; return rec`,
		`rec.a = [NaN, Infinity]; return rec`,
		`rec.n = NaN; return rec`,
		`rec.n = 1/0; return rec`,
		`rec.x = {toJSON() { return "\ud800\n" }}; rec.y = [undefined, function(){}, Symbol("s")]; rec.z = new Date(0); return rec`,
		`rec.m = new Map([[1, 2]]); rec.r = /re/g; rec.e = new Error("e"); rec.big = {a: {b: {c: [[[{}]]]}}}; return rec`,
		`const t = {}; t.t = t; return t`,
		`emit(rec.b); emit("\n1\n"); emit(rec); rec.b = {d: "\u00e9\ud834"}; emit(rec); return rec`,
		`return {s: "\ud834", k: {"\udd1e": "\t"}}`,
		`return [rec, [rec], {rec}]`,
		`return -0`,
		`return 10n`,
		`return Symbol("s")`,
		`return () => 1`,
		`return {toJSON() { return undefined }}`,
		`return new String('{"boxed":\n true}')`,
	} {
		cases = append(cases, scripttest.JSONCase{Code: code})
	}
	// Emits a record per tag and drops its own: nothing for records
	// without tags.
	cases = append(cases, scripttest.JSONCase{Code: `for (const t of (rec.tags || [])) { rec.tag = t; emit(rec) } delete rec.tags; return null`, MayDrop: true})
	scripttest.OutputIsJSON(t, "js", ins, cases)
}

// A returned string spanning lines is compacted, as the ndjson output
// would write it; one on a line is passed on as it is.
func TestJSONStringCompacted(t *testing.T) {
	scripttest.JSONStringCompacted(t, "js")
}
