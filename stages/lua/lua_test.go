package lua_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
	"github.com/pipe-dev/pipe/stages/lua"
)

var (
	build = scripttest.Build
	run   = scripttest.Run
)

func stage(code string, extra ...string) string { return scripttest.Stage("lua", code, extra...) }

func TestSyntaxErrorsAtLoad(t *testing.T) {
	_, err := build(t, "stages:\n  - {name: s, type: lua, path: TESTDATA/bad_syntax.lua}\n")
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.File, "bad_syntax.lua") || ce.Line == 0 || !strings.Contains(ce.Msg, "syntax error") {
		t.Errorf("err = %v, want a config error in bad_syntax.lua with a line", err)
	}
	_, err = build(t, "stages:\n  - {name: s, type: lua, code: 'return rec +'}\n")
	if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(ce.Msg, "lua syntax error in code") {
		t.Errorf("inline: err = %v, want it at the code field", err)
	}
	_, err = build(t, "stages:\n  - {name: s, type: lua, path: TESTDATA/none.lua}\n")
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "cannot read lua script") {
		t.Errorf("missing file: err = %v", err)
	}
	_, err = build(t, "stages:\n  - {name: s, type: lua, code: x, allow: [net]}\n")
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, `allow: "net" is not allowed (want os or io)`) {
		t.Errorf("allow: err = %v", err)
	}
}

func TestRecordErrorsKeepNeighbours(t *testing.T) {
	in := "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
	cases := []struct{ name, code, msg string }{
		{"runtime error", `if rec.n == 2 then error("bad " .. rec.n) end return rec`, "s.lua:1: bad 2"},
		{"nil arithmetic", `if rec.n == 2 then return rec.missing + 1 end return rec`, "add operation between nil and number"},
		{"returns a function", `if rec.n == 2 then return function() end end return rec`, "cannot encode a function"},
		{"cyclic table", "if rec.n == 2 then local t = {} t.self = t return t end return rec", "contains itself"},
		{"os.execute", `if rec.n == 2 then os.execute("true") end return rec`, "os.execute is not available in the sandbox (a stage may opt in with allow: [os])"},
		{"io.open", `if rec.n == 2 then io.open("/etc/passwd") end return rec`, "io.open is not available in the sandbox"},
		{"require os", `if rec.n == 2 then require "os" end return rec`, "not available in the sandbox"},
		{"package", `if rec.n == 2 then package.loadlib("x", "y") end return rec`, "s.lua:1: package.loadlib is not available in the sandbox"},
		{"dofile", `if rec.n == 2 then dofile("/etc/passwd") end return rec`, "dofile is not available in the sandbox"},
		{"never returns", `if rec.n == 2 then while true do end end return rec`, "timed out"},
		{"deep recursion", "local function f(x) return f(x + 1) + 1 end\nif rec.n == 2 then f(1) end return rec", "stack overflow"},
		{"huge concatenation", "if rec.n == 2 then local s = 'x' while true do s = s .. s end end return rec", ""},
		{"huge string.rep", `if rec.n == 2 then local s = string.rep("x", 1e12) end return rec`, "s.lua:1: string.rep: the result would be 1000000000000 bytes"},
		{"string not JSON", `if rec.n == 2 then return "not json" end return rec`, "not JSON"},
		// Minutes of backtracking in the pattern matcher: the timeout stops it.
		{"backtracking find", `if rec.n == 2 then string.find(string.rep("a", 200), ".-.-.-.-b") end return rec`, "timed out"},
		{"backtracking gsub", `if rec.n == 2 then string.gsub(string.rep("a", 200), ".-.-.-.-b", "") end return rec`, "timed out"},
		{"backtracking gmatch", `if rec.n == 2 then for m in string.gmatch(string.rep("a", 200), ".-.-.-.-b") do end end return rec`, "timed out"},
		{"backtracking match", `if rec.n == 2 then ("a"):rep(200):match(".-.-.-.-b") end return rec`, "timed out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			out, p, err := run(t, stage(c.code), in)
			if err != nil {
				t.Fatal(err)
			}
			if out != "{\"n\":1}\n{\"n\":3}\n" {
				t.Errorf("out = %q, want the neighbours of record 2", out)
			}
			if st := p.Stats()[1]; st.Errors != 1 {
				t.Errorf("stats %+v, want 1 error", st)
			}
			if time.Since(start) > time.Minute { // a hang, not a slow machine
				t.Errorf("took %v", time.Since(start))
			}
			if c.msg == "" {
				return
			}
			_, _, err = run(t, strings.Replace(stage(c.code), "on_error: drop", "on_error: fail", 1), in)
			var se *engine.StageError
			if !errors.As(err, &se) || se.Record != 2 || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("under on_error: fail: %v, want record 2 and %q", err, c.msg)
			}
		})
	}
}

func TestRequireFromModules(t *testing.T) {
	code := `local text = require("util.text") rec.msg = text.shout(rec.msg) return rec`
	out, _, err := run(t, stage(code, "modules: [TESTDATA/mods]"), "{\"msg\":\"hi\"}\n")
	if err != nil || out != "{\"msg\":\"HI!\"}\n" {
		t.Fatalf("out = %q, %v", out, err)
	}
	out, p, _ := run(t, stage(code), "{\"msg\":\"hi\"}\n")
	if out != "" || p.Stats()[1].Errors != 1 {
		t.Errorf("require without modules: worked: %q", out)
	}
	_, _, err = run(t, strings.Replace(stage(`require("../../etc/x") return rec`), "on_error: drop", "on_error: fail", 1), "{}\n")
	if err == nil || !strings.Contains(err.Error(), "not a module name") {
		t.Errorf("path traversal: %v", err)
	}
}

func TestAllowOS(t *testing.T) {
	out, _, err := run(t, stage(`rec.t = type(os.time()) return rec`, "allow: [os]"), "{}\n")
	if err != nil || out != "{\"t\":\"number\"}\n" {
		t.Fatalf("out = %q, %v", out, err)
	}
}

func TestPipeModule(t *testing.T) {
	code := `
local parts = pipe.split(rec.csv, ";")
rec.n = #parts
rec.first = pipe.trim(parts[1])
rec.starts = pipe.startswith(rec.csv, " a")
local m = pipe.match(rec.csv, "(\\d+)")
rec.digits = m and m[2]
rec.enc = pipe.json.encode({x = pipe.null}) .. pipe.json.encode(pipe.array())
rec.dec = pipe.json.decode('{"k":[1,2]}').k[2]
rec.null_kept = rec.z == pipe.null
rec.when = pipe.now() > 1e9
pipe.log.info("hello", {rec = rec.n})
return rec`
	out, _, err := run(t, stage(code), "{\"csv\":\" a ;b;c42\",\"z\":null}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"csv":" a ;b;c42","z":null,"n":3,"first":"a","starts":true,"digits":"42","enc":"{\"x\":null}[]","dec":2,"null_kept":true,"when":true}` + "\n"
	if !sameJSON(out, want) {
		t.Errorf("out =  %s\nwant %s", out, want)
	}
}

// Lazy records: reads, writes, deletes, nested edits, pairs, emit of
// successive states.
func TestLazyRecord(t *testing.T) {
	code := `
rec.b.c = rec.b.c + 1
rec.gone = nil
rec["with.dot"] = "x"
local keys = {}
for k in pairs(rec) do keys[#keys + 1] = k end
table.sort(keys)
rec.keys = table.concat(keys, ",")
rec.arr = rec.a
rec.a = nil
emit(rec)
rec.late = true
return rec`
	in := `{"a":[1,{"d":2}],"b":{"c":1},"gone":0,"z":"last"}` + "\n" + `{"b":{"c":0}}` + "\n"
	out, _, err := run(t, stage(code), in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":{"c":2},"z":"last","with.dot":"x","keys":"a,b,with.dot,z","arr":[1,{"d":2}]}
{"b":{"c":2},"z":"last","with.dot":"x","keys":"a,b,with.dot,z","arr":[1,{"d":2}],"late":true}
{"b":{"c":1},"with.dot":"x","keys":"b,with.dot"}
{"b":{"c":1},"with.dot":"x","keys":"b,with.dot","late":true}`
	if !sameJSON(out, want) {
		t.Errorf("out =\n%s\nwant\n%s", out, want)
	}
	// a record the script only reads leaves unchanged, byte for byte
	keep := `{ "x" : 1.0,  "y":[ ] }` + "\n"
	out, _, _ = run(t, stage(`if rec.x == 1 then return rec end`), keep)
	if out != keep {
		t.Errorf("untouched record changed: %q", out)
	}
}

func sameJSON(a, b string) bool {
	return normalize(a) == normalize(b)
}

// TestEndlessLoopAtLoad: an endless loop in the top-level code fails lint
// and start, one in init fails the start; neither hangs.
func TestEndlessLoopAtLoad(t *testing.T) {
	defer lua.SetLoadTimeout(300 * time.Millisecond)()
	top := "while true do end\nfunction transform(rec) return rec end"
	_, err := build(t, stage(top))
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "did not finish within 300ms") {
		t.Errorf("top level: err = %v, want a config error saying it did not finish", err)
	}
	start := time.Now()
	_, _, err = run(t, stage("function init(c) while true do end end\nfunction transform(rec) return rec end"), "{}\n")
	var se *engine.StageError
	if !errors.As(err, &se) || se.Op != "open" || !strings.Contains(err.Error(), "init: did not finish within 300ms") {
		t.Errorf("init: err = %v, want the open to fail saying init did not finish", err)
	}
	if el := time.Since(start); el > time.Minute { // a hang, not a slow machine
		t.Errorf("took %v", el)
	}
}

// TestNumbers: integral numbers are written as integer literals up to 1e21
// (as JSON.stringify does), beyond 2^53 with the precision of a float64.
func TestNumbers(t *testing.T) {
	cases := []struct{ code, want string }{
		{"return {3, -3, 0.5}", "[3,-3,0.5]"},
		{"return {2^53}", "[9007199254740992]"},
		{"return {2^63}", "[9223372036854776000]"},
		{"return {1e20}", "[100000000000000000000]"},
		{"return {1e21, 1e300}", "[1e+21,1e+300]"},
	}
	for _, c := range cases {
		out, _, err := run(t, stage(c.code), "{}\n")
		if err != nil || out != c.want+"\n" {
			t.Errorf("%s: out %q, err %v; want %s", c.code, out, err, c.want)
		}
	}
}

// TestReplacementNotChargedToNextRecord: the state that replaces one a
// timeout interrupted is made in the call that timed out, so a slow init
// does not fail the next record too.
func TestReplacementNotChargedToNextRecord(t *testing.T) {
	code := "function init(c) local t = os.clock() while os.clock() - t < 1 do end end\n" +
		"function transform(rec) if rec.n == 2 then while true do end end return rec end"
	y := strings.Replace(stage(code, "allow: [os]"), "timeout: 1s", "timeout: 250ms", 1)
	out, p, err := run(t, y, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
	if err != nil || out != "{\"n\":1}\n{\"n\":3}\n" || p.Stats()[1].Errors != 1 {
		t.Fatalf("out %q, err %v, stats %+v; want only the stuck record to fail", out, err, p.Stats()[1])
	}
}

// TestRequireSymlinkOutOfModules: require follows no symbolic link out of
// the modules: directories (issue 15, item 3); links inside them work, and
// a module is read once per stage.
func TestRequireSymlinkOutOfModules(t *testing.T) {
	dir := t.TempDir()
	mods, outside := filepath.Join(dir, "mods"), filepath.Join(dir, "secret")
	for _, d := range []string{mods, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(outside, "evil.lua"), []byte(`return {v = "outside"}`), 0o644)
	os.WriteFile(filepath.Join(mods, "real.lua"), []byte(`return {v = "inside"}`), 0o644)
	if err := os.Symlink(filepath.Join(outside, "evil.lua"), filepath.Join(mods, "evil.lua")); err != nil {
		t.Skip(err)
	}
	os.Symlink(filepath.Join(mods, "real.lua"), filepath.Join(mods, "alias.lua"))
	failing := func(code string) string {
		return strings.Replace(stage(code, "modules: ["+mods+"]"), "on_error: drop", "on_error: fail", 1)
	}
	_, _, err := run(t, failing(`rec.v = require("evil").v return rec`), "{}\n")
	if err == nil || !strings.Contains(err.Error(), "symbolic link out of the modules: directories") {
		t.Errorf("require of a link out of modules: = %v, want it refused", err)
	}
	out, _, err := run(t, failing(`rec.v = require("alias").v return rec`), "{}\n{}\n")
	if err != nil || out != "{\"v\":\"inside\"}\n{\"v\":\"inside\"}\n" {
		t.Errorf("require of a link inside modules: = %q, %v", out, err)
	}
	// Read once per stage: a module changed after its first require is
	// not read again, also by the state that replaces an interrupted one.
	p, err := build(t, stage(`
function transform(rec)
  if rec.swap then
    local f = io.open(rec.swap, "w") f:write('return {v = "changed"}') f:close()
    while true do end
  end
  rec.v = require("real").v
  return rec
end`, "modules: ["+mods+"]", "allow: [io]"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	in := fmt.Sprintf("{}\n{\"swap\":%q}\n{}\n", filepath.Join(mods, "real.lua"))
	if err := p.RunReader(context.Background(), strings.NewReader(in), &buf); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(mods, "real.lua")); !strings.Contains(string(data), "changed") {
		t.Fatalf("the script did not change the module: %q", data)
	}
	if buf.String() != "{\"v\":\"inside\"}\n{\"v\":\"inside\"}\n" {
		t.Errorf("out = %q, want every record to see the module as first read", buf.String())
	}
}

func TestDeepJSON(t *testing.T) {
	scripttest.DeepJSON(t, "lua", "local x = rec.a\nreturn rec")
}

func TestMemoryLimit(t *testing.T) {
	scripttest.MemoryLimit(t, "lua", map[string]string{
		"doubling string": "if rec.n == 2 then local s = 'x' while true do s = s .. s end end return rec",
		"growing table":   "if rec.n == 2 then local t = {} while true do t[#t + 1] = {rec.n, 'xxxxxxxx'} end end return rec",
		"emit loop":       "if rec.n == 2 then while true do emit({s = string.rep('x', 1000)}) end end return rec",
	})
}

func TestMetaOutOfReach(t *testing.T) {
	scripttest.MetaReach(t, "lua", `emit(rec) return rec`, `local _, m = ... m.seen = "yes" return rec`)
}
