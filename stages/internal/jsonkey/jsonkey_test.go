package jsonkey

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	cases := []struct {
		data, path string
		dup        string // "" for none
	}{
		{`{"password":"a","password":"secret"}`, "password", "password"},
		{`{"password":"a","pass\u0077ord":"secret"}`, "password", "password"},
		{`{"password":"a","other":"password"}`, "password", ""},
		{`{"a":{"b":1},"c":{"b":2}}`, "a.b", ""},
		{`{"a":{"b":1,"b":2}}`, "a.b", "a.b"},
		{`{"a":1,"a":{"b":2}}`, "a.b", "a"},
		{`{"a":[{"b":1},{"b":2,"b":3}]}`, "a.1.b", "a.1.b"},
		{`{"a":[{"b":1,"b":2},{"b":3}]}`, "a.1.b", ""},
		{`{"x.y":1,"x.y":2}`, `x\.y`, `x\.y`},
		{`{"a":1}`, "missing.deeper", ""},
		{`["a","a"]`, "0", ""},
		{`not json "a" "a"`, "a", ""},
	}
	for _, c := range cases {
		t.Run(c.data+" "+c.path, func(t *testing.T) {
			err := Path([]byte(c.data), c.path)
			check(t, err, c.dup)
		})
	}
}

func TestAny(t *testing.T) {
	many := func(dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 100 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		if dup {
			b.WriteString(`"k50":0,`)
		}
		b.WriteString(`"end":1}`)
		return b.String()
	}
	cases := []struct{ data, dup string }{
		{`{"password":"a","password":"secret"}`, "password"},
		{`{"a":{"b":1},"c":{"b":2},"b":{"a":1}}`, ""},
		{`{"a":[{"k":1},{"k":2}],"k":3}`, ""},
		{`[{"k":1,"x":"k","k":2}]`, "k"},
		{`{"a":"{\"k\":1,\"k\":2}"}`, ""},
		{`{"p\u0061ss":1,"pass":2}`, "pass"},
		{`{"a":{"x":1},"a":{"x":1}}`, "a"},
		{`{"a":{"x":1,"y":{"z":1}},"b":{"z":2,"z":3}}`, "z"},
		{many(false), ""},
		{many(true), "k50"},
		{`{"a":1,`, ""},
		{`}}]]{"a":1,"a"`, "a"},
		{`"unterminated`, ""},
		{strings.Repeat("[", 100000), ""},
	}
	for _, c := range cases {
		t.Run(c.data[:min(len(c.data), 40)], func(t *testing.T) {
			check(t, Any([]byte(c.data)), c.dup)
		})
	}
}

func check(t *testing.T, err error, dup string) {
	t.Helper()
	if dup == "" {
		if err != nil {
			t.Fatalf("got %v, want no duplicate", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Path != dup || !errors.Is(err, ErrDuplicate) {
		t.Fatalf("got %v, want duplicate %q", err, dup)
	}
}

func FuzzAny(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1,"b":2}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Any(data)
		_ = Path(data, "a.b")
	})
}

// TestPathNoAllocs: the common case (no escapes, no repeated segment)
// allocates nothing; Path runs per record and field.
func TestPathNoAllocs(t *testing.T) {
	data := []byte(`{"level":"error","msg":"disk full","user":{"id":7,"name":"ann"}}`)
	for _, path := range []string{"level", "user.name", "a.very.long.path.whose.segments.do.not.exist.in.the.record.at.all.xxxxxxxxxxxxxxxxxxxxx"} {
		if n := testing.AllocsPerRun(100, func() {
			if err := Path(data, path); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Path(%q): %v allocations, want 0", path, n)
		}
	}
}

// TestMaybeRepeatedPlain: the unsplit fast test agrees with the split one.
func TestMaybeRepeatedPlain(t *testing.T) {
	datas := []string{`{"a":{"b":1,"b":2}}`, `{"a":1,"b":2}`, `{"a.b":1}`, `{"":1,"":2}`, `{"a":"a"}`, `{"x":{"y":{"x":1}}}`, `"a"`}
	paths := []string{"a", "a.b", "b", "", ".", "a.", "x.y.x", "y"}
	for _, d := range datas {
		for _, p := range paths {
			if got, want := maybeRepeatedPlain([]byte(d), p), maybeRepeated([]byte(d), splitPath(p)); got != want {
				t.Errorf("%s %q: plain %v, split %v", d, p, got, want)
			}
		}
	}
}

// A Checker answers as Any does, call after call, also after a record that
// failed mid-object or left objects open.
func TestCheckerMatchesAny(t *testing.T) {
	inputs := []string{
		`{"password":"a","password":"secret"}`,
		`{"a":{"b":1},"c":{"b":2},"b":{"a":1}}`,
		`{"a":1,`,
		`}}]]{"a":1,"a"`,
		`{"a":{"x":1,"y":{"z":1}},"b":{"z":2,"z":3}}`,
		`{"k":1,"x":{"k":2}}`,
		strings.Repeat("[", 100000),
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k0":17}`,
		`{"ts":"t","level":"error","tags":["a","b"]}`,
	}
	var c Checker
	for range 2 {
		for _, in := range inputs {
			got, want := c.Any([]byte(in)), Any([]byte(in))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%.40s: Checker.Any = %v, Any = %v", in, got, want)
			}
		}
	}
}

func BenchmarkPath(b *testing.B) {
	data := []byte(`{"level":"error","msg":"disk full","user":{"id":7,"name":"ann"}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Path(data, "user.name")
	}
}

func BenchmarkAny(b *testing.B) {
	rec := []byte(`{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}`)
	b.Run("Any", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = Any(rec)
		}
	})
	b.Run("Checker", func(b *testing.B) {
		b.ReportAllocs()
		var c Checker
		for range b.N {
			_ = c.Any(rec)
		}
	})
}
