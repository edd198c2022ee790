package native

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/pipe-dev/pipe/engine"
)

// appendJSONStringRef is appendJSONString one byte at a time (its code
// before plainRun): the reference the eight-byte scan must equal.
func appendJSONStringRef(dst, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case jsonPlain[c]:
			dst = append(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = appendEscapedASCII(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(dst, '"')
}

var jsonStringSeeds = []string{"", "plain text of some length", `a"b\c`, "tab\there\nnl\x01\x1f\x7f",
	"é中文🎉 mixed ascii", "\xff\xfe bad utf8 \xe2\x82", "12345678\"", "1234567\\8", "\x80", "abcdefgh\xc3\xa9ijklmnop\x00"}

func checkJSONString(t *testing.T, s []byte) {
	want := appendJSONStringRef(nil, s)
	if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
	}
	if got := appendJSONString(nil, string(s)); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(string %q) = %s, want %s", s, got, want)
	}
}

func TestAppendJSONStringSWAR(t *testing.T) {
	for _, s := range jsonStringSeeds {
		checkJSONString(t, []byte(s))
		// Every offset of the special byte within an eight-byte word.
		for pad := range 9 {
			checkJSONString(t, append(bytes.Repeat([]byte{'x'}, pad), s...))
		}
	}
	for c := range 256 {
		for pad := range 16 {
			b := bytes.Repeat([]byte{'y'}, 17)
			b[pad] = byte(c)
			checkJSONString(t, b)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkJSONString)
}

var logfmtSeeds = []string{
	`ts=2026-01-01T00:00:00.000454Z level=error service=worker method=GET path=/health status=503 latency_ms=130.999 user=u36701 msg="token slow connection slow"`,
	`a=1 b="x \"y\" \\ \n \t \u00e9 \q" c= d e=""`, `status=abc`, `latency_ms=1e999 status=-0`, `a=1 a=2`, `a=1 b=2 a=3`,
	`"a"=1`, `=x`, `a=x"y`, `a="x"y`, `a="unterminated`, "a=\xff\xfe b=é", "  a=1\t\tb=2  ", `status= latency_ms=""`,
	`a b c=d`, `k=v=w`, `a="\u12"`, `a="\ud800"`, `status=1 a=2`, `a=2 status=1`, `b=true b2=0`, `b=maybe`,
	`status=0 latency_ms=0.5 x=1`, `status=05 latency_ms=1. x=1`, `latency_ms=.5 status=-1 x=1`, `latency_ms=00.5 status=1234567 x=1`, `latency_ms=1.2.3 status=12:4 x=1`, `latency_ms=0 status=9 latency_ms=1`,
	manyKeys(70), manyKeys(70) + " k3=dup",
	`s="x \"y\" \\ \/ \n \r \t \q \é" c=1`, "a=\"\xc3\\n\xa9\" s2=\"\\\xff\"", `a="\"`, `a="x\`, `a="ctl` + "\x01\x7f" + `"`,
}

// manyKeys is a line of n keys, more than logfmtFast keeps in its cache.
func manyKeys(n int) string {
	var b []byte
	for i := range n {
		b = fmt.Appendf(b, "k%d=%d ", i, i)
	}
	return string(b)
}

// checkLogfmtFast compares logfmtFast with the general path on line:
// where the fast path takes a line, it writes what the general one does.
func checkLogfmtFast(t *testing.T, p *kvParser, line []byte) bool {
	fast, ok := p.logfmtFast([]byte("prefix"), line)
	if !ok {
		if string(fast) != "prefix" {
			t.Fatalf("%q: declined with %q written", line, fast)
		}
		return false
	}
	want, err := p.parsePairs([]byte("prefix"), line)
	if err != nil {
		t.Fatalf("%q: fast path wrote %s, general path fails: %v", line, fast, err)
	}
	if !bytes.Equal(fast, want) {
		t.Fatalf("%q: fast path wrote %s, general path %s", line, fast, want)
	}
	return true
}

func newTestLogfmt(t testing.TB) *kvParser {
	tr, err := newParseLogfmt(engine.ConfigOf(map[string]any{"types": map[string]any{"status": "int", "latency_ms": "float", "b": "bool"}}))
	if err != nil {
		t.Fatal(err)
	}
	return tr.(*parseStage).p.(*kvParser)
}

func TestLogfmtFast(t *testing.T) {
	p := newTestLogfmt(t)
	taken := 0
	for _, l := range logfmtSeeds {
		if checkLogfmtFast(t, p, []byte(l)) {
			taken++
		}
	}
	if !checkLogfmtFast(t, p, []byte(logfmtSeeds[0])) || taken < 5 {
		t.Fatalf("the fast path took %d lines; want the ordinary ones", taken)
	}
}

// TestLogfmtFastKeyCache runs every seed line after every other one, so
// that each key is compared with the cached keys of another line (same
// key, a prefix of it, a longer one, a key with a quote or none).
func TestLogfmtFastKeyCache(t *testing.T) {
	lines := append(logfmtSeeds, `statu=1 level2=x`, `status2=1`, `stat"us=1`, `ts ts=1`, `ts=1 level`)
	for _, a := range lines {
		for _, b := range lines {
			p := newTestLogfmt(t)
			checkLogfmtFast(t, p, []byte(a))
			checkLogfmtFast(t, p, []byte(b))
		}
	}
}

func FuzzLogfmtFast(f *testing.F) {
	for _, l := range logfmtSeeds {
		f.Add([]byte(l))
	}
	p := newTestLogfmt(f)
	f.Fuzz(func(t *testing.T, line []byte) { checkLogfmtFast(t, p, line) })
}

// TestParseSlabRecords keeps every output record of a run whose objects
// are written into shared blocks (small ones, ones that fill a block's
// free end, ones larger than a block) and checks them at the end: no
// record is overwritten by a later one.
func TestParseSlabRecords(t *testing.T) {
	tr, err := newParseLogfmt(engine.ConfigOf(map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	var got, want [][]byte
	for i := range 3000 {
		v := bytes.Repeat([]byte{'a' + byte(i%26)}, []int{1, 100, 3000, 5000, 70000}[i%5])
		line := fmt.Appendf(nil, "i=%d v=%s", i, v)
		r := engine.NewRecord(line)
		if err := tr.Transform(context.Background(), r, func(o *engine.Record) { got = append(got, o.Data) }); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Appendf(nil, `{"i":"%d","v":"%s"}`, i, v))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: %.80s, want %.80s", i, got[i], want[i])
		}
		if cap(got[i]) != len(got[i]) {
			t.Fatalf("record %d: capacity %d past its length %d", i, cap(got[i]), len(got[i]))
		}
	}
}

// checkBuiltJSON runs the stages that vouch for their JSON
// (engine.JSONAlways) on line: whatever they emit is one JSON value on one
// line.
func checkBuiltJSON(t *testing.T, line []byte) {
	configs := []struct {
		use string
		cfg map[string]any
	}{
		{"parse_logfmt", map[string]any{"types": map[string]any{"status": "int", "latency_ms": "float", "b": "bool"}}},
		{"parse_logfmt", map[string]any{"target": "p.q", "original": "line"}},
		{"parse_kv", map[string]any{"field_split": "&", "quotes": `"'`}},
		{"parse_regex", map[string]any{"pattern": `^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\d+)`, "types": map[string]any{"status": "int"}}},
		{"parse_regex", map[string]any{"pattern": `(?P<a>.)(?P<b>[\s\S]*)`, "original": "o"}},
	}
	for _, c := range configs {
		tr := newNative(t, c.use, c.cfg)
		if g := tr.(engine.JSONOutput).JSONOutput(); g != engine.JSONAlways {
			t.Fatalf("%s: guarantee %v, want JSONAlways", c.use, g)
		}
		_ = tr.Transform(context.Background(), engine.NewRecord(bytes.Clone(line)), func(o *engine.Record) {
			if !json.Valid(o.Data) || bytes.IndexByte(o.Data, '\n') >= 0 {
				t.Fatalf("%s %v on %q: emitted %q, not one JSON value on one line", c.use, c.cfg, line, o.Data)
			}
		})
	}
}

var hostileLines = []string{
	`a="x\ny" b=\ q="\u0000\ud800" c=` + "\x00\x01\n\r\t\xff\xfe\"\\",
	"10.0.0.1 - u\xff [01/Jan/2026:00:00:00 +0000] \"GET /\x00\n\\ HTTP/1.1\" 200",
	"a=1&b='x\\'y\n'&c=\"\x7f\xc3\"", "é=\"\\é\\\"\" \u2028=\u2029",
}

func TestParseBuiltJSON(t *testing.T) {
	for _, l := range append(hostileLines, logfmtSeeds...) {
		checkBuiltJSON(t, []byte(l))
	}
	// Parsers that pass text through promise nothing.
	if g := newNative(t, "parse_json", nil).(engine.JSONOutput).JSONOutput(); g != engine.JSONUnchecked {
		t.Fatalf("parse_json: guarantee %v, want JSONUnchecked", g)
	}
}

func FuzzParseBuiltJSON(f *testing.F) {
	for _, l := range hostileLines {
		f.Add([]byte(l))
	}
	f.Fuzz(checkBuiltJSON)
}

// TestParseBatchPath runs parse stages through TransformBatch and through
// Transform on the same records: the same outputs and the same failures;
// and a batch whose context is done changes no record and reports
// nothing, so that the engine's record-by-record re-run starts from the
// original records.
func TestParseBatchPath(t *testing.T) {
	configs := []struct {
		use   string
		cfg   map[string]any
		lines []string
	}{
		{"parse_logfmt", map[string]any{"types": map[string]any{"status": "int"}},
			[]string{`a=1 status=200`, `"a"=1`, `b=2`, `status=x`, `c="q q"`}},
		{"parse_regex", map[string]any{"pattern": `^(?P<a>\S+) (?P<b>\d+)$`, "types": map[string]any{"b": "int"}},
			[]string{`x 1`, `y`, `z 22`, "w\xff 3"}},
		{"parse_csv", map[string]any{"header": true}, []string{`a,b`, `1,2`, `1`, `a,b`, `3,4`}},
	}
	for _, c := range configs {
		newStage := func() engine.Transformer { return newNative(t, c.use, c.cfg) }
		recs := func() []*engine.Record {
			var out []*engine.Record
			for i, l := range c.lines {
				r := engine.NewRecord([]byte(l))
				r.SetNumber(int64(i + 1))
				out = append(out, r)
			}
			return out
		}
		// One record a call.
		var want []string
		one := newStage()
		for _, r := range recs() {
			err := one.Transform(context.Background(), r, func(o *engine.Record) { want = append(want, string(o.Data)) })
			if err != nil {
				want = append(want, "error: "+err.Error())
			}
		}
		bt, ok := newStage().(engine.BatchTransformer)
		if !ok {
			t.Fatalf("%s: not a BatchTransformer", c.use)
		}
		// A call whose context is done.
		in := recs()
		var res engine.BatchResult
		res.Reset(len(in))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := bt.TransformBatch(ctx, in, &res); err == nil {
			t.Fatalf("%s: a cancelled batch returned no error", c.use)
		}
		for i, r := range in {
			if string(r.Data) != c.lines[i] {
				t.Fatalf("%s: a cancelled batch changed record %d to %q", c.use, i, r.Data)
			}
		}
		// The whole batch.
		res.Reset(len(in))
		if err := bt.TransformBatch(context.Background(), in, &res); err != nil || res.Err() != nil {
			t.Fatalf("%s: %v, %v", c.use, err, res.Err())
		}
		var got []string
		k, f := 0, 0
		for i := range in {
			for ; k < len(res.Records()) && res.Source(k) == i; k++ {
				got = append(got, string(res.Records()[k].Data))
			}
			if f < res.NumFailed() {
				if fi, err := res.Failed(f); fi == i {
					got = append(got, "error: "+err.Error())
					f++
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: batch %q, one by one %q", c.use, got, want)
		}
		if res.NumFailed() == 0 || len(res.Records()) == 0 {
			t.Fatalf("%s: %d failed, %d out: want both", c.use, res.NumFailed(), len(res.Records()))
		}
	}
}

// TestParseOutputArena runs parse stages through TransformBatch with the
// batch's output arena lent (engine.OutputArena), as the engine does:
// the same outputs as without it, each record in the arena followed by a
// newline there (for the output's runs), the records of earlier batches
// intact while the arena grows into new blocks, and the arena left alone
// once it is taken back.
func TestParseOutputArena(t *testing.T) {
	configs := []struct {
		use string
		cfg map[string]any
	}{
		{"parse_logfmt", map[string]any{"types": map[string]any{"status": "int"}}},
		{"parse_logfmt", map[string]any{"target": "p", "original": "line"}},
		{"parse_regex", map[string]any{"pattern": `^(?P<i>\S+) (?P<v>.*)$`}},
		{"grok", map[string]any{"patterns": []any{`%{NOTSPACE:i} %{GREEDYDATA:v}`}}},
	}
	for _, c := range configs {
		newStage := func() engine.Transformer { return newNative(t, c.use, c.cfg) }
		ref, lent := newStage(), newStage()
		ar, ok := lent.(engine.OutputArena)
		if !ok {
			t.Fatalf("%s: not an engine.OutputArena", c.use)
		}
		bt := lent.(engine.BatchTransformer)
		var arena []byte
		var got, want [][]byte
		for b := range 40 {
			var recs []*engine.Record
			for i := range 50 {
				size := []int{1, 90, 3000, 9000}[(b+i)%4]
				line := fmt.Appendf(nil, "i=%d v=%s", b*50+i, bytes.Repeat([]byte{'a' + byte(i%26)}, size))
				if err := ref.Transform(context.Background(), engine.NewRecord(bytes.Clone(line)), func(o *engine.Record) {
					want = append(want, o.Data)
				}); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, engine.NewRecord(line))
			}
			if b%10 == 0 {
				arena = arena[:0] // the batch was written: its arena is reused
				got = got[:0]
				want = want[len(want)-len(recs):]
			}
			ar.UseArena(&arena)
			var res engine.BatchResult
			res.Reset(len(recs))
			if err := bt.TransformBatch(context.Background(), recs, &res); err != nil || res.Err() != nil {
				t.Fatalf("%s: %v %v", c.use, err, res.Err())
			}
			ar.UseArena(nil)
			inArena := 0
			for _, r := range res.Records() {
				got = append(got, r.Data)
				if cap(r.Data) != len(r.Data) {
					t.Fatalf("%s: capacity %d past the length %d", c.use, cap(r.Data), len(r.Data))
				}
				if off := arenaOffsetOf(arena, r.Data); off >= 0 {
					inArena++
					if off+len(r.Data) >= len(arena) || arena[off+len(r.Data)] != '\n' {
						t.Fatalf("%s: record in the arena without a newline after it", c.use)
					}
				}
			}
			if inArena == 0 {
				t.Fatalf("%s: batch %d: no record in the arena", c.use, b)
			}
			// The stage holds no arena now: a record transformed alone
			// leaves it as it is.
			before := len(arena)
			_ = lent.Transform(context.Background(), engine.NewRecord([]byte("i=1 v=2")), func(*engine.Record) {})
			if len(arena) != before {
				t.Fatalf("%s: the arena grew after it was taken back", c.use)
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s: batch %d record %d: %.60s, want %.60s", c.use, b, i, got[i], want[i])
				}
			}
		}
	}
}

// arenaOffsetOf returns where data lies in buf, or -1.
func arenaOffsetOf(buf, data []byte) int {
	if len(buf) == 0 || len(data) == 0 {
		return -1
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if p < lo || p+uintptr(len(data)) > lo+uintptr(len(buf)) {
		return -1
	}
	return int(p - lo)
}

// TestAppendShort compares appendShort with append for every length up to
// 20 at the offsets and free capacities around its two-word case: the
// same result, and nothing below dst's length changed.
func TestAppendShort(t *testing.T) {
	src := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	for a := 0; a <= len(src); a++ {
		for n := 0; a+n <= len(src) && n <= 20; n++ {
			for free := 0; free <= 20; free++ {
				dst := make([]byte, 3, 3+free)
				copy(dst, "XYZ")
				got := appendShort(dst, src, a, n)
				want := append([]byte("XYZ"), src[a:a+n]...)
				if !bytes.Equal(got, want) {
					t.Fatalf("a=%d n=%d free=%d: %q, want %q", a, n, free, got, want)
				}
			}
		}
	}
}

// newNative builds the built-in native stage use with config cfg, failing the
// test when use is not registered or refuses cfg.
func newNative(t testing.TB, use string, cfg map[string]any) engine.Transformer {
	t.Helper()
	n, ok := engine.DefaultRegistry.LookupNative(use)
	if !ok {
		t.Fatalf("native stage %q is not registered", use)
	}
	tr, err := n.New(engine.ConfigOf(cfg))
	if err != nil {
		t.Fatalf("%s: %v", use, err)
	}
	return tr
}

// TestPlainNumber checks plainNumber against appendInt and appendFloat on
// every string of up to five bytes over number bytes and a few others, and
// on seven-byte ones: where it says yes, they write the value as it is.
func TestPlainNumber(t *testing.T) {
	const alpha = "0123456789.-+eE x\x00/:\xfe"
	check := func(v []byte) {
		var w [8]byte
		copy(w[:], v)
		word := binary.LittleEndian.Uint64(w[:])
		for _, float := range []bool{false, true} {
			got := plainNumber(word, len(v), float)
			var out []byte
			var ok bool
			if float {
				out, ok = appendFloat(nil, v)
			} else {
				out, ok = appendInt(nil, v)
			}
			want := ok && string(out) == string(v)
			if got && !want {
				t.Fatalf("plainNumber(%q, float %v) = true; append gives %q, %v", v, float, out, ok)
			}
			isNum := len(v) > 0 && (v[0] != '0' || len(v) == 1 || float && v[1] == '.')
			for i, c := range v {
				isNum = isNum && (c >= '0' && c <= '9' || float && c == '.' && i > 0 && i < len(v)-1 && bytes.Count(v, []byte{'.'}) == 1)
			}
			if got != isNum {
				t.Fatalf("plainNumber(%q, float %v) = %v, want %v", v, float, got, isNum)
			}
		}
	}
	var rec func(v []byte, n int)
	rec = func(v []byte, n int) {
		if len(v) > 0 {
			check(v)
		}
		if len(v) == n {
			return
		}
		for i := range len(alpha) {
			rec(append(v, alpha[i]), n)
		}
	}
	rec(nil, 4)
	for _, s := range []string{"1234567", "130.999", "0.12345", "1.2.345", "123456.", ".123456", "0123456", "9999999", "12345:7", "1234/67"} {
		check([]byte(s))
	}
}
