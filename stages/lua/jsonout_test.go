package lua_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// Under codec ndjson a Lua stage vouches for its output's JSON
// (engine.JSONPreserved): whatever a script returns or emits comes out as
// one JSON value on one line, or fails the record.
func TestOutputIsJSON(t *testing.T) {
	in := `{"a":"x\u0000y","b":[1,{"c":null}],"k\"ey":1, "d" : 2.5e3 }`
	var cases []scripttest.JSONCase
	// (after the scripts Lua and JavaScript write alike: see
	// scripttest.OutputIsJSON)
	for _, code := range []string{
		`rec.a = "\0\1\31\127\128\255\"\\" rec["new\nkey"] = "\n" rec["k\"ey"] = nil return rec`,
		`rec.n = 0/0 return rec`,
		`rec.n = 1/0 return rec`,
		`rec.x = {[1] = 1, [3] = 3} rec.y = {1, 2, {}} rec.z = {[2.5] = "f"} return rec`,
		`local t = {} t[t] = 1 return t`,
		`emit(rec.b) emit("\n1\n") emit(rec.b[2]) rec.b[2].c = {d = "\226\130"} return rec`,
		`return {s = "\237\160\128", e = pipe.null}`,
	} {
		cases = append(cases, scripttest.JSONCase{Code: code})
	}
	scripttest.OutputIsJSON(t, "lua", []string{in}, cases)
}

// A returned string spanning lines is compacted, as the ndjson output
// would write it; one on a line is passed on as it is.
func TestJSONStringCompacted(t *testing.T) {
	scripttest.JSONStringCompacted(t, "lua")
}
