package js

import (
	"math"
	"strconv"
	"testing"

	"github.com/dop251/goja"
	"github.com/tidwall/gjson"
)

// TestFromJSON checks that a lazy record's nested field is the value
// JSON.parse makes of it.
func TestFromJSON(t *testing.T) {
	rt := goja.New()
	parse, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("parse"))
	// describe shows what a script can see of a value: its JSON, and for
	// each object its own keys and whether its prototype is Object's.
	describe, err := rt.RunString(`(function d(v) {
		if (v === null || typeof v !== "object") return typeof v + ":" + JSON.stringify(v) + (Object.is(v, -0) ? "(-0)" : "");
		const own = Object.getOwnPropertyNames(v).map(k => k + "=" + d(v[k])).join(",");
		return (Array.isArray(v) ? "array" : "object") + (Object.getPrototypeOf(v) === (Array.isArray(v) ? Array.prototype : Object.prototype) ? "" : "(proto!)") + "{" + own + "}";
	})`)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := goja.AssertFunction(describe)
	for _, raw := range []string{
		`[]`, `{}`, `["a","b",1,2.5,-0,true,false,null]`,
		`{"b":1,"a":[{"c":{}}],"1":"x","0":"y"}`,
		`{"a":1,"a":2,"b":3}`,
		`{"__proto__":{"x":1},"y":2}`,
		`["\u00e9\ud83d\ude00","tab\t","\ud800","caf\u00e9"]`,
		`[9007199254740993,1e300,-1e-300,0.1]`,
	} {
		want, err := parse(goja.Undefined(), rt.ToValue(raw))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := fromJSON(rt, gjson.Parse(raw))
		if !ok {
			t.Errorf("%s: fromJSON refused it", raw)
			continue
		}
		dw, _ := d(goja.Undefined(), want)
		dg, _ := d(goja.Undefined(), got)
		if dw.String() != dg.String() {
			t.Errorf("%s:\n fromJSON   %s\n JSON.parse %s", raw, dg, dw)
		}
	}
	if _, ok := fromJSON(rt, gjson.Parse(`[1e400]`)); ok {
		t.Error("fromJSON took a number out of range, which JSON.parse refuses")
	}
}

// TestPrimitiveJSON checks the values primitiveJSON encodes against
// JSON.stringify, and that it leaves the others to it.
func TestPrimitiveJSON(t *testing.T) {
	rt := goja.New()
	stringify, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("stringify"))
	vals, err := rt.RunString(`[null, true, false, 0, -0, 1, -17, 2**53, 2**53+2, 1e21, 0.5, 1e-7, NaN, Infinity,
		130.999, -1e-7, 0.1+0.2, 5e-324, 1.7976931348623157e308, -(2**63), 123456789012345680000,
		"", "plain ascii", "q\"uote", "back\\slash", "tab\t", "caf\u00e9", "<&>", "\u007f", "\b\f\n\r\u0001\u001f",
		"\ud83d\ude00", "lone \ud800", "lone \udfff end", "\ufffd", "\u2028\u2029", "\u00ef\u00bf",
		new String("boxed"), [1], {a: 1}, Symbol("s"), 10n, undefined]`)
	if err != nil {
		t.Fatal(err)
	}
	arr := vals.ToObject(rt)
	n := int(arr.Get("length").ToInteger())
	fast := 0
	for i := range n {
		v := arr.Get(strconv.Itoa(i))
		got := primitiveJSON(v)
		if got == nil {
			continue
		}
		fast++
		want, err := stringify(goja.Undefined(), v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want.String() {
			t.Errorf("%v: primitiveJSON %s, JSON.stringify %s", v, got, want)
		}
	}
	if fast < 30 {
		t.Errorf("only %d of %d values took the fast path", fast, n)
	}
}

// FuzzAppendPrimitive compares appendPrimitive with JSON.stringify on
// strings (any UTF-16, lone surrogates too) and numbers.
func FuzzAppendPrimitive(f *testing.F) {
	f.Add("plain", 1.5)
	f.Add("q\"\\\x00\x1f\x7f\u00e9\ufffd", math.Copysign(0, -1))
	f.Add("\U0001F600", 1e21)
	rt := goja.New()
	stringify, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("stringify"))
	fromUnits, _ := goja.AssertFunction(rt.Get("String").ToObject(rt).Get("fromCharCode"))
	f.Fuzz(func(t *testing.T, s string, x float64) {
		var units []goja.Value // s's bytes as UTF-16 code units, two at a time
		for i := 0; i+1 < len(s); i += 2 {
			units = append(units, rt.ToValue(int(s[i])<<8|int(s[i+1])))
		}
		str, err := fromUnits(goja.Undefined(), units...)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []goja.Value{rt.ToValue(s), str, rt.ToValue(x)} {
			got, ok := appendPrimitive([]byte("prefix"), v)
			if string(got[:6]) != "prefix" {
				t.Fatalf("%q: the bytes before were changed: %q", v, got)
			}
			if !ok {
				if len(got) != 6 {
					t.Fatalf("%q: not encoded, but b grew: %q", v, got)
				}
				continue
			}
			want, err := stringify(goja.Undefined(), v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got[6:]) != want.String() {
				t.Fatalf("%q: appendPrimitive %s, JSON.stringify %s", v, got[6:], want)
			}
		}
	})
}

// BenchmarkNestedField reads W3's tags field of a lazy record: built from
// gjson, and with JSON.parse as before.
func BenchmarkNestedField(b *testing.B) {
	rt := goja.New()
	parse, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("parse"))
	r := gjson.Parse(`["prod","canary","eu"]`)
	b.Run("gjson", func(b *testing.B) {
		for range b.N {
			fromJSON(rt, r)
		}
	})
	b.Run("JSON.parse", func(b *testing.B) {
		for range b.N {
			if _, err := parse(goja.Undefined(), rt.ToValue(r.Raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkToUpperCase is W2's call: a 220-byte ASCII line upper-cased,
// with the fast path and with goja's own.
func BenchmarkToUpperCase(b *testing.B) {
	line := `{"ts":"2026-01-01T00:00:00.123456Z","level":"info","service":"api","method":"GET","path":"/v1/users","status":200,"latency_ms":12.345,"user":"u123","msg":"request completed","tags":["prod","eu"]}`
	for _, fast := range []bool{true, false} {
		name := "goja"
		rt := goja.New()
		if fast {
			name = "fast"
			fastCase(rt)
		}
		fn, err := rt.RunString(`(function(s) { return s.toUpperCase() })`)
		if err != nil {
			b.Fatal(err)
		}
		call, _ := goja.AssertFunction(fn)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := call(goja.Undefined(), rt.ToValue(line)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
