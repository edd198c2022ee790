package js_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
	"github.com/pipe-dev/pipe/stages/js"
)

var (
	build = scripttest.Build
	run   = scripttest.Run
)

func stage(code string, extra ...string) string { return scripttest.Stage("js", code, extra...) }

func TestSyntaxErrorsAtLoad(t *testing.T) {
	_, err := build(t, "stages:\n  - {name: s, type: js, path: TESTDATA/bad_syntax.js}\n")
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.File, "bad_syntax.js") || ce.Line == 0 || !strings.Contains(ce.Msg, "syntax error") {
		t.Errorf("err = %v, want a config error in bad_syntax.js with a line", err)
	}
	_, err = build(t, "stages:\n  - {name: s, type: js, code: 'return rec +'}\n")
	if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(ce.Msg, "js syntax error in code") {
		t.Errorf("inline: err = %v, want it at the code field", err)
	}
	// An unclosed bracket is an error at the end of the user's code, not
	// in the wrapper that makes code the body of transform.
	_, err = build(t, "stages:\n  - {name: s, type: js, code: 'if (rec) {'}\n")
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "in code at 1:11: SyntaxError: unexpected end of the script") {
		t.Errorf("unclosed: err = %v, want it at 1:11, the end of the code", err)
	}
	unclosed := filepath.Join(t.TempDir(), "unclosed.js")
	os.WriteFile(unclosed, []byte("function transform(rec) {\n  if (rec.a) {\n    return rec\n}\n"), 0o644)
	_, err = build(t, "stages:\n  - {name: s, type: js, path: "+unclosed+"}\n")
	if !errors.As(err, &ce) || ce.Line != 4 || ce.Col != 2 || !strings.Contains(ce.Msg, "unexpected end of the script") {
		t.Errorf("unclosed file: err = %v, want it at 4:2", err)
	}
	_, err = build(t, "stages:\n  - {name: s, type: js, path: TESTDATA/none.js}\n")
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "cannot read js script") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestRecordErrorsKeepNeighbours(t *testing.T) {
	in := "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
	cases := []struct{ name, code, msg string }{
		{"throw", `if (rec.n === 2) throw new Error("bad " + rec.n); return rec`, "s.js:1:24: Error: bad 2"},
		{"type error", `if (rec.n === 2) return rec.missing.x; return rec`, "TypeError"},
		{"returns a function", `if (rec.n === 2) return () => 1; return rec`, "cannot output a function"},
		{"returns a Symbol", `if (rec.n === 2) return Symbol("s"); return rec`, "Symbol"},
		{"cyclic object", `if (rec.n === 2) { const o = {}; o.self = o; return o } return rec`, "circular structure"},
		{"BigInt", `if (rec.n === 2) return {big: 10n}; return rec`, "BigInt"},
		{"require fs", `if (rec.n === 2) require("fs"); return rec`, `s.js:1:25: GoError: require("fs"): fs is not available in the sandbox`},
		{"require child_process", `if (rec.n === 2) require("child_process"); return rec`, `s.js:1:25: GoError: require("child_process"): child_process is not available`},
		{"require outside modules", `if (rec.n === 2) require("../../etc/passwd"); return rec`, "s.js:1:25: GoError: require(\"../../etc/passwd\"): only modules from the stage's modules"},
		{"endless loop", `if (rec.n === 2) { for (;;) {} } return rec`, "timed out"},
		{"unbounded recursion", "function f(x) { return f(x + 1) + 1 }\nif (rec.n === 2) f(1); return rec", "maximum call stack size exceeded"},
		{"huge array loop", `if (rec.n === 2) { const a = []; for (;;) a.push(new Array(1000).fill(1)) } return rec`, ""},
		{"emit a function", `if (rec.n === 2) emit(() => 1); return rec`, "s.js:1:22: TypeError: emit: cannot output a function"},
		{"huge repeat", `if (rec.n === 2) "x".repeat(1e12); return rec`, "RangeError: repeat: the result would be 1000000000000 characters"},
		{"string not JSON", `if (rec.n === 2) return "not json"; return rec`, "not JSON"},
		// Builtins whose Go loops no interrupt reaches are bounded.
		{"huge fill", `if (rec.n === 2) new Array(2**32-1).fill(0); return rec`, "RangeError: fill: 4294967295 elements"},
		{"huge join", `if (rec.n === 2) new Array(2**32-1).join(","); return rec`, "RangeError: join: 4294967295 elements"},
		{"huge padStart", `if (rec.n === 2) "x".padStart(2**31); return rec`, "RangeError: padStart: 2147483648 elements"},
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
	code := `const text = require("util/text"); rec.msg = text.shout(rec.msg); return rec`
	out, _, err := run(t, stage(code, "modules: [TESTDATA/mods]"), "{\"msg\":\"hi\"}\n")
	if err != nil || out != "{\"msg\":\"HI!\"}\n" {
		t.Fatalf("out = %q, %v", out, err)
	}
	out, p, _ := run(t, stage(code), "{\"msg\":\"hi\"}\n")
	if out != "" || p.Stats()[1].Errors != 1 {
		t.Errorf("require without modules: worked: %q", out)
	}
	// A vendored library's modules require each other relative to their
	// own directory.
	code = `rec.d = require("vendor/datelib").ymd(2024, 3, 9); return rec`
	out, _, err = run(t, stage(code, "modules: [TESTDATA/mods]"), "{}\n")
	if err != nil || out != "{\"d\":\"2024-03-09\"}\n" {
		t.Errorf("relative requires in modules: out = %q, %v", out, err)
	}
	for _, name := range []string{"util/../../js_test.go", "../js_test.go", "./../mods/../js_test.go"} {
		_, _, err = run(t, strings.Replace(stage(`require("`+name+`"); return rec`, "modules: [TESTDATA/mods]"), "on_error: drop", "on_error: fail", 1), "{}\n")
		if err == nil || !strings.Contains(err.Error(), "only modules from the stage's modules: directories") {
			t.Errorf("require(%q): %v, want it refused", name, err)
		}
	}
}

// Lazy records: reads, writes, deletes, nested edits, Object.keys, spread.
func TestLazyRecord(t *testing.T) {
	code := `
rec.b.c += 1;
delete rec.gone;
rec["with.dot"] = "x";
rec.keys = Object.keys(rec).sort().join(",");
rec.copy = {...rec.b};
emit(rec);
rec.late = true;
return rec`
	in := `{"a":[1,{"d":2}],"b":{"c":1},"gone":0,"z":"last"}` + "\n"
	out, _, err := run(t, stage(code), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":[1,{"d":2}],"b":{"c":2},"z":"last","with.dot":"x","keys":"a,b,with.dot,z","copy":{"c":2}}`,
		`{"a":[1,{"d":2}],"b":{"c":2},"z":"last","with.dot":"x","keys":"a,b,with.dot,z","copy":{"c":2},"late":true}`}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("out = %q", out)
	}
	for i, l := range lines {
		var a, b any
		json.Unmarshal([]byte(l), &a)
		json.Unmarshal([]byte(want[i]), &b)
		if ab, _ := json.Marshal(a); string(ab) != mustCanon(want[i]) {
			t.Errorf("record %d = %s\nwant %s", i, l, want[i])
		}
		_ = b
	}
	keep := `{ "x" : 1.0,  "y":[ ] }` + "\n"
	out, _, _ = run(t, stage(`if (rec.x === 1) return rec`), keep)
	if out != keep {
		t.Errorf("untouched record changed: %q", out)
	}
}

func mustCanon(s string) string {
	var v any
	json.Unmarshal([]byte(s), &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// TestEndlessLoopAtLoad: an endless loop in the top-level code fails lint
// and start, one in init fails the start; neither hangs.
func TestEndlessLoopAtLoad(t *testing.T) {
	defer js.SetLoadTimeout(300 * time.Millisecond)()
	top := "for (;;) {}\nfunction transform(rec) { return rec }"
	_, err := build(t, stage(top))
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "did not finish within 300ms") {
		t.Errorf("top level: err = %v, want a config error saying it did not finish", err)
	}
	start := time.Now()
	_, _, err = run(t, stage("function init(c) { for (;;) {} }\nfunction transform(rec) { return rec }"), "{}\n")
	var se *engine.StageError
	if !errors.As(err, &se) || se.Op != "open" || !strings.Contains(err.Error(), "init: did not finish within 300ms") {
		t.Errorf("init: err = %v, want the open to fail saying init did not finish", err)
	}
	if el := time.Since(start); el > time.Minute { // a hang, not a slow machine
		t.Errorf("took %v", el)
	}
}

// TestReplacementNotChargedToNextRecord: the runtime that replaces one a
// timeout interrupted is made in the call that timed out, so a slow init
// does not fail the next record too.
func TestReplacementNotChargedToNextRecord(t *testing.T) {
	code := "function init(c) { const t = Date.now(); while (Date.now() - t < 1000) {} }\n" +
		"function transform(rec) { if (rec.n === 2) for (;;) {} return rec }"
	y := strings.Replace(stage(code), "timeout: 1s", "timeout: 250ms", 1)
	out, p, err := run(t, y, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
	if err != nil || out != "{\"n\":1}\n{\"n\":3}\n" || p.Stats()[1].Errors != 1 {
		t.Fatalf("out %q, err %v, stats %+v; want only the stuck record to fail", out, err, p.Stats()[1])
	}
}

// require follows Node.js resolution inside modules: (package.json "main",
// .json modules), and nothing leads out of those directories, not even a
// symbolic link.
func TestRequireNodeResolution(t *testing.T) {
	code := `const lib = require("vendor/pkglib"); rec.c = lib.country(rec.cc); return rec`
	out, _, err := run(t, stage(code, "modules: [TESTDATA/mods]"), "{\"cc\":\"de\"}\n{\"cc\":\"xx\"}\n")
	if want := "{\"cc\":\"de\",\"c\":\"Germany\"}\n{\"cc\":\"xx\",\"c\":\"unknown\"}\n"; err != nil || out != want {
		t.Errorf("package.json main and a .json module: out = %q, %v; want %q", out, err, want)
	}
	// An error thrown inside a module fails the record with the module's position.
	code = `return {c: require("vendor/pkglib").strict(rec.cc)}`
	_, _, err = run(t, strings.Replace(stage(code, "modules: [TESTDATA/mods]"), "on_error: drop", "on_error: fail", 1), "{\"cc\":\"xx\"}\n")
	if err == nil || !strings.Contains(err.Error(), "no country xx") || !strings.Contains(err.Error(), "main.js:6") {
		t.Errorf("a throw in a module: %v, want the message and main.js:6", err)
	}
	// A symbolic link in modules: pointing out of it is refused.
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.js")
	os.WriteFile(secret, []byte(`exports.v = "leaked"`), 0o644)
	mods := filepath.Join(dir, "mods")
	os.Mkdir(mods, 0o755)
	if err := os.Symlink(secret, filepath.Join(mods, "link.js")); err != nil {
		t.Fatal(err)
	}
	code = `return {v: require("link").v}`
	out, _, err = run(t, strings.Replace(stage(code, "modules: ["+mods+"]"), "on_error: drop", "on_error: fail", 1), "{}\n")
	if err == nil || strings.Contains(out, "leaked") || !strings.Contains(err.Error(), "not found in the modules: directories") {
		t.Errorf("a link out of modules: out = %q, %v; want it refused", out, err)
	}
	// Unknown names say where they were looked for.
	_, _, err = run(t, strings.Replace(stage(`return require("nope")`, "modules: [TESTDATA/mods]"), "on_error: drop", "on_error: fail", 1), "{}\n")
	if err == nil || !strings.Contains(err.Error(), `require("nope"): not found in the modules: directories`) {
		t.Errorf("unknown module: %v", err)
	}
}

func TestDeepJSON(t *testing.T) {
	scripttest.DeepJSON(t, "js", "const x = rec.a\nreturn rec")
}

// A backtracking regular expression (regexp2) throws a RangeError after
// js.RegexpLimit, long before a generous timeout, and never answers "no
// match" for a match it did not finish.
func TestRegexpBacktracking(t *testing.T) {
	code := `try { const m = /^(a+)+(?=b)/.test("a".repeat(30)); return {m} } catch (e) { return {err: String(e)} }`
	y := strings.Replace(stage(code), "timeout: 1s", "timeout: 5m", 1)
	out, _, err := run(t, y, "{}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "RangeError: regular expression /^(a+)+(?=b)/ ran for more than 1s") {
		t.Errorf("out = %q; want the RangeError", out)
	}
	// The same under the default on_error: the record fails, naming it.
	y = strings.Replace(stage(`"a".repeat(30).replace(/^(a+)+(?=b)/, "x"); return rec`), "timeout: 1s", "timeout: 5m", 1)
	_, _, err = run(t, strings.Replace(y, "on_error: drop", "on_error: fail", 1), "{}\n")
	if err == nil || !strings.Contains(err.Error(), "catastrophic backtracking") {
		t.Errorf("err = %v; want the record failed by the regexp limit", err)
	}
	// Patterns of both engines still work.
	out, _, err = run(t, stage(`return ["ab".replace(/(?=b)/, "-"), "a1b2".split(/(?<=\d)/), /(a)\1/.test("aa"), "xAy".match(/a/i)[0], [..."a1a2".matchAll(/a(\d)/g)].map(m => m[1]), "a.b".split(/\./)]`), "{}\n")
	if err != nil || out != `["a-b",["a1","b2"],true,"A",["1","2"],["a","b"]]`+"\n" {
		t.Errorf("out = %q, %v", out, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	scripttest.MemoryLimit(t, "js", map[string]string{
		"doubling string": `if (rec.n === 2) { let s = "x"; for (;;) s = s + s + "y" } return rec`,
		"growing array":   `if (rec.n === 2) { const a = []; for (;;) a.push(new Array(1000).fill(1)) } return rec`,
		"emit loop":       `if (rec.n === 2) { for (;;) emit({s: "x".repeat(1000)}) } return rec`,
	})
}

func TestMetaOutOfReach(t *testing.T) {
	scripttest.MetaReach(t, "js", `emit(rec); return rec`, `arguments[1].seen = "yes"; return rec`)
}
