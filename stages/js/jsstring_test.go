package js

import (
	"fmt"
	"runtime"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
	"reflect"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// TestASCIIValue checks that asciiValue makes goja's own ASCII strings (so
// that a goja upgrade that renames them shows here, not as a slowdown),
// and that a script sees them as it sees the strings ToValue makes: the
// same length, characters, comparisons, property keys, methods and JSON.
func TestASCIIValue(t *testing.T) {
	rt := goja.New()
	findASCII(rt)
	if asciiTab == nil {
		t.Fatal("goja makes no asciiString values: asciiValue falls back to ToValue")
	}
	long := "a line of plain ASCII text longer than sixteen bytes: {\"k\": [1, 2]} \\ \t end"
	inputs := []string{"", "a", "0123456789abcdef", "0123456789abcdefg", long, long + "\u00e9", "caf\u00e9 au lait, longer than 16", "\x7f\x00\x01" + long}
	for _, s := range inputs {
		v := asciiValue(rt, s)
		if got := v.String(); got != s {
			t.Fatalf("%q: String() = %q", s, got)
		}
		if isASCII(s) && reflect.TypeOf(v).Name() != "asciiString" {
			t.Errorf("%q: %T, want goja's asciiString", s, v)
		}
		ref := rt.ToValue(s)
		if !v.StrictEquals(ref) || !ref.StrictEquals(v) || !v.Equals(ref) || !v.SameAs(ref) {
			t.Errorf("%q: not equal to ToValue's string", s)
		}
		_ = rt.Set("a", v)
		_ = rt.Set("b", ref)
		got, err := rt.RunString(`[a.length, a === b, a == b, typeof a, a.toUpperCase() === b.toUpperCase(),
			a.charCodeAt(a.length - 1), a.slice(1, 20), a.split(" ").length, JSON.stringify(a), a + b === b + a,
			({[a]: 1})[b], [...a].length, a.indexOf("t"), a < b + "x", String(a) === b].join("|")`)
		if err != nil {
			t.Fatal(err)
		}
		want, err := rt.RunString(`[b.length, b === b, b == b, typeof b, b.toUpperCase() === b.toUpperCase(),
			b.charCodeAt(b.length - 1), b.slice(1, 20), b.split(" ").length, JSON.stringify(b), b + b === b + b,
			({[b]: 1})[b], [...b].length, b.indexOf("t"), b < b + "x", String(b) === b].join("|")`)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}

func TestIsASCII(t *testing.T) {
	base := strings.Repeat("abcdefgh", 9)
	for n := 0; n <= len(base); n++ {
		s := base[:n]
		if !isASCII(s) {
			t.Errorf("isASCII(%q) = false", s)
		}
		for i := 0; i < n; i++ {
			b := []byte(s)
			b[i] = 0x80 | b[i]
			if isASCII(string(b)) {
				t.Errorf("isASCII(%q) = true", b)
			}
		}
	}
}

func BenchmarkASCIIValue(b *testing.B) {
	rt := goja.New()
	findASCII(rt)
	s := strings.Repeat("The quick brown fox ", 11)
	b.ReportAllocs()
	for range b.N {
		_ = asciiValue(rt, s)
	}
}

// TestKeptStack checks that the vm finds goja's value stack and that calls
// on the kept stack give what they give on goja's own: calls that need
// more than it (deep recursion with many locals), calls from Go inside a
// call (JSON.stringify with toJSON from emit) and calls after a throw.
func TestKeptStack(t *testing.T) {
	if valueStack(goja.New()) == nil {
		t.Fatal("goja's value stack not found: every call allocates one")
	}
	code := `function deep(n) { const a = n, b = n + 1, c = n + 2, d = [a, b, c]; return n === 0 ? 0 : deep(n - 1) + d.length }
function transform(rec) {
  if (rec.n === 3) throw new Error("three")
  emit({n: rec.n, s: {toJSON() { return JSON.stringify([rec.n, "x"]) }}})
  return {n: rec.n, deep: deep(rec.n * 150)}
}`
	var in, want strings.Builder
	for n := 1; n <= 5; n++ {
		fmt.Fprintf(&in, "{\"n\":%d}\n", n)
		if n != 3 {
			fmt.Fprintf(&want, "{\"n\":%d,\"s\":\"[%d,\\\"x\\\"]\"}\n{\"n\":%d,\"deep\":%d}\n", n, n, n, n*150*3)
		}
	}
	out, _, err := scripttest.Run(t, scripttest.Stage("js", code), in.String())
	if err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		t.Errorf("got\n%s\nwant\n%s", out, want.String())
	}
}

// TestASCIICopy checks the strings asciiCopy makes in one block: their
// bytes are a copy (changing the input does not change them), they are
// goja's ASCII strings, and they survive collections while only the
// runtime holds them.
func TestASCIICopy(t *testing.T) {
	rt := goja.New()
	findASCII(rt)
	var vals []goja.Value
	var want []string
	for n := 0; n < 300; n += 7 {
		b := []byte(strings.Repeat("abcdefghij", 30)[:n])
		v, _, ok := asciiCopy(rt, b)
		if !ok {
			t.Fatalf("n=%d: not ASCII", n)
		}
		want = append(want, string(b))
		for i := range b {
			b[i] = 'X'
		}
		vals = append(vals, v)
	}
	arr := rt.NewArray()
	for i, v := range vals {
		_ = arr.Set(fmt.Sprint(i), v)
	}
	_ = rt.Set("arr", arr)
	vals = nil
	runtime.GC()
	runtime.GC()
	got, err := rt.RunString(`arr.map(s => s + "|" + s.length + "|" + typeof s).join("\n")`)
	if err != nil {
		t.Fatal(err)
	}
	var w []string
	for _, s := range want {
		w = append(w, fmt.Sprintf("%s|%d|string", s, len(s)))
	}
	if got.String() != strings.Join(w, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(w, "\n"))
	}
	if _, _, ok := asciiCopy(rt, []byte("caf\u00e9")); ok {
		t.Error("asciiCopy accepted non-ASCII bytes")
	}
}

// FuzzASCIIValue compares the strings asciiValue and asciiCase make with
// goja's own (ToValue, and toUpperCase/toLowerCase of a runtime without
// the fast path): the same value, length, JSON and case changes.
func FuzzASCIIValue(f *testing.F) {
	for _, s := range []string{"", "a", "Hello, World", "caf\u00e9", "\x00\x7f\x80", strings.Repeat("aB1{", 20)} {
		f.Add(s)
	}
	rt, plain := goja.New(), goja.New()
	findASCII(rt)
	probe := `[s.length, JSON.stringify(s), s.toUpperCase(), s.toLowerCase(), s === t].join("|")`
	f.Fuzz(func(t *testing.T, s string) {
		v := asciiValue(rt, s)
		if !v.StrictEquals(rt.ToValue(s)) {
			t.Fatalf("%q: not ToValue's string", s)
		}
		if up, ok := asciiCase(rt, s, true); ok && up.String() != strings.ToUpper(s) {
			t.Fatalf("%q: asciiCase upper = %q", s, up.String())
		}
		_ = rt.Set("s", v)
		_ = rt.Set("t", rt.ToValue(s))
		_ = plain.Set("s", plain.ToValue(s))
		_ = plain.Set("t", plain.ToValue(s))
		got, err1 := rt.RunString(probe)
		want, err2 := plain.RunString(probe)
		if (err1 == nil) != (err2 == nil) || (err1 == nil && got.String() != want.String()) {
			t.Fatalf("%q: got %v (%v), want %v (%v)", s, got, err1, want, err2)
		}
	})
}
