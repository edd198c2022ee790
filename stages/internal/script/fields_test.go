package script

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
)

// Fields.Check answers as jsonkey.Any does (the same first duplicate),
// and its index finds every field as gjson does.
func TestFieldsMatchJSONKeyAndGJSON(t *testing.T) {
	inputs := []string{
		`{}`, `{ }`, ` {"a":1} `, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2},"a":3}`, `{"a":1,"b":{"a":1,"a":2}}`,
		`{"x":[{"k":1,"k":2}],"x":1}`, `{"p\u0061ss":1,"pass":2}`, `{"a":"{\"k\":1,\"k\":2}"}`,
		`{"a" : 1 , "b":[1,{"c":2}] ,"d":null,"e":true,"f":-1.5e3,"g":"x\"y"}`, `{"a":1,`, `{"a":1}x`,
		`[{"k":1,"k":2}]`, `"str"`, `{"":1,"":2}`, `{"a.b":1,"a*":2,"@this":3}`,
		`{"ts":"2026-01-01T00:00:00Z","level":"error","msg":"m","tags":["prod","eu"]}`,
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&many, `"k%d":%d,`, i, i)
	}
	many.WriteString(`"k3":0}`)
	inputs = append(inputs, many.String())
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"a", "b", "c", "a.b", ""}
	vals := []string{`1`, `"s"`, `{"a":1}`, `{"a":1,"a":2}`, `[{"b":1},{"b":1,"b":2}]`, `[]`, `null`}
	for range 2000 {
		var b strings.Builder
		b.WriteString("{")
		for j := range rng.IntN(5) {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `%q:%s`, keys[rng.IntN(len(keys))], vals[rng.IntN(len(vals))])
		}
		b.WriteString("}")
		inputs = append(inputs, b.String())
	}
	var f Fields
	for _, in := range inputs {
		data := []byte(in)
		got, want := f.Check(data), jsonkey.Any(data)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: Check = %v, jsonkey.Any = %v", in, got, want)
		}
		if got != nil {
			if _, ok := f.lookup(data, "a"); ok {
				t.Fatalf("%s: an index after a failed check", in)
			}
			continue
		}
		for _, k := range append(keys, "missing", "k3", "tags", "g", "pass") {
			raw, ok := f.lookup(data, k)
			if !ok {
				continue
			}
			w := gjson.GetBytes(data, FieldPath(k))
			if raw.Exists() != w.Exists() || raw.Raw != w.Raw || raw.Type != w.Type || raw.Str != w.Str || raw.Num != w.Num {
				t.Fatalf("%s: lookup(%q) = %#v, gjson %#v", in, k, raw, w)
			}
		}
		if _, ok := f.lookup([]byte(in), "a"); ok {
			t.Fatalf("%s: the index answered for other bytes", in)
		}
	}
}

// BenchmarkFields is the check of a W3 record with and without the index.
func BenchmarkFields(b *testing.B) {
	rec := []byte(`{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}`)
	b.Run("Fields.Check+lookup", func(b *testing.B) {
		var f Fields
		for range b.N {
			_ = f.Check(rec)
			_, _ = f.lookup(rec, "tags")
		}
	})
	b.Run("Checker.Any+gjson", func(b *testing.B) {
		var c jsonkey.Checker
		for range b.N {
			_ = c.Any(rec)
			_ = gjson.GetBytes(rec, "tags")
		}
	})
}

// scanStringRef is scanString one byte at a time.
func scanStringRef(d []byte, i int) (int, bool) {
	esc := false
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			esc = true
			i++
		case '"':
			return i, esc
		}
	}
	return -1, esc
}

// FuzzScanString compares scanString (eight bytes at a time) with the
// byte-wise reference, from every quote of the input.
func FuzzScanString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"0123456789abcdef\\"`, `"\\\\\\\"x"`, `"unterminated\`, `"é\u00e9"x"`, `"01234567"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		for i, c := range d {
			if c != '"' {
				continue
			}
			e, esc := scanString(d, i)
			we, wesc := scanStringRef(d, i)
			if e != we || esc != wesc {
				t.Fatalf("scanString(%q, %d) = %d, %v; byte-wise %d, %v", d, i, e, esc, we, wesc)
			}
		}
	})
}

// lookup is span's answer as the gjson.Result Lazy.Lookup makes of it.
func (f *Fields) lookup(data []byte, k string) (raw gjson.Result, ok bool) {
	v, found, ok := f.span(data, k)
	if found {
		raw = gjson.ParseBytes(v)
	}
	return raw, ok
}
