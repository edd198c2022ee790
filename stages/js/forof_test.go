package js

import (
	"testing"

	"github.com/dop251/goja"
)

// forOfCases are scripts whose result (a string) must be the same with
// the for-of loops rewritten (rewriteForOf, __pipe_of__) as with goja's
// own iterator protocol.
var forOfCases = map[string]string{
	"array":        `const o = []; for (const t of [1, 2, 3]) o.push(t); o.join()`,
	"grows":        `const a = [1, 2], o = []; for (const t of a) { if (a.length < 5) a.push(t * 10); o.push(t) } o.join()`,
	"shrinks":      `const a = [1, 2, 3, 4], o = []; for (const t of a) { a.pop(); o.push(t) } o.join()`,
	"holes":        `const o = []; Array.prototype[1] = "P"; for (const t of [1, , 3]) o.push(t); delete Array.prototype[1]; o.join()`,
	"getter":       `const a = [1, 2], o = []; Object.defineProperty(a, 0, {get() { o.push("get"); return 9 }}); for (const t of a) o.push(t); o.join()`,
	"generator":    `const o = []; function* g() { try { yield 1; yield 2 } finally { o.push("fin") } } for (const t of g()) { o.push(t); break } o.join()`,
	"string":       `const o = []; for (const c of "a\u00e9\ud83d\ude00") o.push(c); o.join()`,
	"map":          `const o = []; for (const [k, v] of new Map([["x", 1]])) o.push(k + v); o.join()`,
	"own iterator": `const b = [7, 8], o = []; b[Symbol.iterator] = function* () { yield "own" }; for (const t of b) o.push(t); o.join()`,
	"labels":       `const o = []; outer: for (const i of [1, 2]) { for (const j of [3, 4]) { if (j == 4) continue outer; o.push(i * j) } } o.join()`,
	"closures":     `const fs = []; for (const t of [1, 2]) fs.push(() => t); String(fs[0]() + fs[1]())`,
	"targets":      `let x; const p = {}; for (x of [5]) {} for (p.q of [6]) {} for (const {r} of [{r: 9}]) x += r; x + "," + p.q`,
	"not iterable": `let m; try { for (const t of 5) {} } catch (e) { m = String(e) } try { for (const t of null) {} } catch (e) { m += String(e) } m`,
	"patched values": `const o = [], s = Array.prototype[Symbol.iterator]; Array.prototype[Symbol.iterator] = function* () { yield "patched" };
		for (const t of [1]) o.push(t); Array.prototype[Symbol.iterator] = s; o.join()`,
	"patched next": `const o = [], ai = Object.getPrototypeOf([][Symbol.iterator]()), n = ai.next; ai.next = function () { o.push("next"); return n.call(this) };
		for (const t of [1]) o.push(t); ai.next = n; o.join()`,
	"return added":   `const o = []; Object.prototype.return = function () { o.push("ret"); return {} }; for (const t of [1, 2]) break; delete Object.prototype.return; o.join()`,
	"proxy":          `const o = []; for (const t of new Proxy([1, 2], {get(t, k, r) { if (typeof k == "string") o.push(k); return Reflect.get(t, k, r) }})) o.push(t); o.join()`,
	"typed array":    `const o = []; for (const t of new Uint8Array([3, 4])) o.push(t); o.join()`,
	"arguments":      `function f() { const o = []; for (const t of arguments) o.push(t); return o.join() } f(1, 2)`,
	"set":            `const o = []; for (const t of new Set([1, 1, 2])) o.push(t); o.join()`,
	"nested":         `const o = []; for (const a of [[1, 2], [3]]) for (const b of a) o.push(b); o.join()`,
	"throw in body":  `const o = []; try { for (const t of [1, 2]) { o.push(t); throw 1 } } catch (e) { o.push("caught") } o.join()`,
	"in generator":   `function* g(a) { for (const t of a) yield t * 2 } [...g([1, 2])].join()`,
	"array subclass": `class A extends Array {} const o = []; for (const t of A.from([1, 2])) o.push(t); o.join()`,
	"frozen":         `const o = []; for (const t of Object.freeze([1, 2])) o.push(t); o.join()`,
}

// TestForOf runs forOfCases with and without the rewrite.
func TestForOf(t *testing.T) {
	for name, code := range forOfCases {
		t.Run(name, func(t *testing.T) {
			prog, err := goja.Parse(name, code)
			if err != nil {
				t.Fatal(err)
			}
			if n := rewriteForOf(prog); n == 0 {
				t.Fatal("no for-of loop rewritten")
			}
			fast, err := goja.CompileAST(prog, false)
			if err != nil {
				t.Fatal(err)
			}
			rt := goja.New()
			if err := installForOf(rt); err != nil {
				t.Fatal(err)
			}
			got, err := rt.RunProgram(fast)
			if err != nil {
				t.Fatal(err)
			}
			want, err := goja.New().RunString(code)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("rewritten: %q, goja: %q", got, want)
			}
		})
	}
}

// TestForOfErrorPosition checks that an error of the loop itself (what it
// iterates is not iterable) keeps its position.
func TestForOfErrorPosition(t *testing.T) {
	for _, code := range []string{
		"let n = 0;\n  for (const t of n) {}",
		"const rec = {a: 1};\n  for (const t of rec.a) {}",
		"for (const t of [1, 2]) for (const u of t) {}",
		"for (const t of (0, undefined)) {}",
	} {
		want, err := goja.New().RunString(code)
		if err == nil {
			t.Fatalf("%q: no error (%v)", code, want)
		}
		prog, perr := goja.Parse("x.js", code)
		if perr != nil {
			t.Fatal(perr)
		}
		rewriteForOf(prog)
		p, perr := goja.CompileAST(prog, false)
		if perr != nil {
			t.Fatal(perr)
		}
		rt := goja.New()
		if err := installForOf(rt); err != nil {
			t.Fatal(err)
		}
		_, got := rt.RunProgram(p)
		ex, ok1 := got.(*goja.Exception)
		wx, ok2 := err.(*goja.Exception)
		if !ok1 || !ok2 {
			t.Fatalf("%q: errors %v and %v", code, got, err)
		}
		pos := func(ex *goja.Exception) string {
			return ex.Value().String() + " at " + ex.Stack()[0].Position().String()
		}
		// The file name differs (RunString's is empty); compare line:col.
		if g, w := ex.Stack()[0].Position(), wx.Stack()[0].Position(); g.Line != w.Line || g.Column != w.Column || ex.Value().String() != wx.Value().String() {
			t.Errorf("%q: rewritten %s, goja %s", code, pos(ex), pos(wx))
		}
	}
}

// TestForOfHidden checks that __pipe_of__ is neither enumerable nor
// writable.
func TestForOfHidden(t *testing.T) {
	rt := goja.New()
	if err := installForOf(rt); err != nil {
		t.Fatal(err)
	}
	v, err := rt.RunString(`__pipe_of__ = 1; Object.keys(globalThis).includes("__pipe_of__") + "," + typeof __pipe_of__`)
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "false,function" {
		t.Errorf("got %s", v)
	}
}

// BenchmarkForOf is W3's loop over a record's tags (three of them), with
// goja's iterator protocol and rewritten:
//
//	go test -run '^$' -bench ForOf ./stages/js
func BenchmarkForOf(b *testing.B) {
	const code = `(function(tags) { let n = 0; for (const t of tags) n += t.length; return n })`
	for _, rewrite := range []bool{false, true} {
		name := "goja"
		if rewrite {
			name = "rewritten"
		}
		b.Run(name, func(b *testing.B) {
			prog, err := goja.Parse("bench.js", code)
			if err != nil {
				b.Fatal(err)
			}
			rt := goja.New()
			if rewrite {
				rewriteForOf(prog)
				if err := installForOf(rt); err != nil {
					b.Fatal(err)
				}
			}
			p, err := goja.CompileAST(prog, false)
			if err != nil {
				b.Fatal(err)
			}
			fn, err := rt.RunProgram(p)
			if err != nil {
				b.Fatal(err)
			}
			call, _ := goja.AssertFunction(fn)
			tags := rt.NewArray("prod", "canary", "eu")
			b.ReportAllocs()
			for range b.N {
				if _, err := call(goja.Undefined(), tags); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
