package native

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestRunOpLayout: emitrun_amd64.s reads runOp's fields at these offsets.
func TestRunOpLayout(t *testing.T) {
	var r runOp
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"litW", unsafe.Offsetof(r.litW), 0}, {"litMask", unsafe.Offsetof(r.litMask), 8},
		{"conn0", unsafe.Offsetof(r.conn0), 16}, {"conn1", unsafe.Offsetof(r.conn1), 24},
		{"notPlain", unsafe.Offsetof(r.notPlain), 32}, {"litN", unsafe.Offsetof(r.litN), 40},
		{"connN", unsafe.Offsetof(r.connN), 48}, {"min", unsafe.Offsetof(r.min), 56},
		{"stop", unsafe.Offsetof(r.stop), 64}, {"kind", unsafe.Offsetof(r.kind), 72},
		{"not", unsafe.Offsetof(r.not), 80}, {"tab", unsafe.Offsetof(r.tab), 88},
		{"size", unsafe.Sizeof(r), 96},
	} {
		if c.got != c.want {
			t.Errorf("runOp.%s at %d, emitrun_amd64.s reads %d", c.name, c.got, c.want)
		}
	}
}

// checkFastRun runs fastRun (assembly on amd64) and fastRunGo on text
// from every op on and compares where they stop and what they wrote.
func checkFastRun(t *testing.T, e *linearEmitter, text []byte, room int) {
	t.Helper()
	if len(text) < 8 {
		return
	}
	sm := make([]uint64, stopMapLen(len(text)))
	stopMap(text, e.c1, e.c2, sm)
	for k0 := range e.run {
		for _, i0 := range []int{0, len(text) / 2, len(text) - 1} {
			bufA, bufG := make([]byte, len(text)+e.extra+room), make([]byte, len(text)+e.extra+room)
			k, i, d := fastRun(e.run, k0, text, bufA, i0, room, sm)
			kg, ig, dg := fastRunGo(e.run, k0, text, bufG, i0, room, sm)
			if k != kg || i != ig || d != dg {
				t.Fatalf("%q from op %d at %d: fastRun stopped at op %d, %d, %d; fastRunGo at op %d, %d, %d", text, k0, i0, k, i, d, kg, ig, dg)
			}
			if !bytes.Equal(bufA[:d], bufG[:d]) {
				t.Fatalf("%q from op %d at %d: fastRun wrote %q, fastRunGo %q", text, k0, i0, bufA[:d], bufG[:d])
			}
		}
	}
}

// TestFastRunMatchesGo compares the assembly with fastRunGo on the
// combined-log pattern and on patterns with [^x] scans of their own
// bytes (c1, c2, and one more that has no map).
func TestFastRunMatchesGo(t *testing.T) {
	long := `10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /` + string(bytes.Repeat([]byte("abcdefgh"), 40)) + ` HTTP/1.1" 200 26 "-" "agent"`
	cases := []struct {
		pat   string
		types map[string]string
		seeds []string
	}{
		{w4cPattern, map[string]string{"status": "int", "bytes": "int"}, []string{
			`10.0.0.1 - u36701 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`, long}},
		{`^(?P<a>[^,]*),(?P<b>[^;]*);(?P<c>[^|]*)\|(?P<d>[^,]*),(?P<e>\d+)`, map[string]string{"e": "int"}, []string{"x,y;z|w,12", "a,;|,0"}},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		p := newTestRegexParser(t, c.pat, c.types, false)
		if p.emit == nil {
			t.Fatalf("%s: no emitter", c.pat)
		}
		for _, text := range emitTexts(rng, c.seeds, 2000) {
			checkFastRun(t, p.emit, []byte(text), rng.IntN(70))
		}
	}
}

// FuzzFastRun compares fastRun with fastRunGo on FuzzLinearEmit's
// patterns and any text.
func FuzzFastRun(f *testing.F) {
	f.Add([]byte{10, 0, 21, 0, 10, 2, 11, 3, 10, 0, 10, 0, 14, 4, 12, 0, 15, 0, 13, 0, 13}, `10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`, 3)
	f.Fuzz(func(t *testing.T, spec []byte, text string, room int) {
		pat, types := fuzzPattern(spec)
		if !bytes.Contains([]byte(pat), []byte("?P<")) {
			return
		}
		p := newTestRegexParser(t, pat, types, false)
		if p.emit == nil {
			return
		}
		checkFastRun(t, p.emit, []byte(text), room&63)
	})
}
