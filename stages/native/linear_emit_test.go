package native

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// w4cPattern is bench/workloads/native/w4c.yaml's pattern.
const w4cPattern = `^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<proto>[^"]+)" (?P<status>\d+) (?P<bytes>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"`

// newTestRegexParser returns the parser of pat with types (field name to
// int, float, bool or string; named groups only unless keepUnnamed).
func newTestRegexParser(t testing.TB, pat string, types map[string]string, keepUnnamed bool) *regexParser {
	re := regexp.MustCompile(pat)
	names := slices.Clone(re.SubexpNames())
	names[0] = ""
	for i := 1; i < len(names); i++ {
		if names[i] == "" && keepUnnamed {
			names[i] = strconv.Itoa(i)
		}
	}
	var ts *typeSet
	for k, v := range types {
		if ts == nil {
			ts = &typeSet{}
		}
		ts.set(k, typeNames[v])
	}
	return newRegexParser(re, pat, names, ts)
}

// checkEmit compares the emitter with the general path (match, then
// fields) on text, writing after prefix into a buffer of capacity room:
// where the emitter takes a line it writes what the general path writes,
// and it leaves what is before dst's length alone. It reports whether the
// emitter took the line.
func checkEmit(t *testing.T, p *regexParser, text []byte, room int) bool {
	t.Helper()
	want, werr := p.parseMatched([]byte("prefix"), text)
	dst := append(make([]byte, 0, room), "prefix"...)
	got, ok := p.emit.emit(dst, text)
	if !ok {
		if string(got) != "prefix" {
			t.Fatalf("%q: declined with %q", text, got)
		}
		return false
	}
	if werr != nil {
		t.Fatalf("%q: emitter wrote %s, general path fails: %v", text, got, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q: emitter wrote\n%s\ngeneral path\n%s", text, got, want)
	}
	if cap(got) != room {
		t.Fatalf("%q: emitter output left the buffer (capacity %d, want %d)", text, cap(got), room)
	}
	return true
}

// emitTexts returns texts for pattern tests: the seeds, and the seeds with
// one or two pieces of alphabet inserted, removed or replaced, and random
// strings of pieces.
func emitTexts(rng *rand.Rand, seeds []string, n int) []string {
	alphabet := []string{" ", "a", "b", "c", "x", "yz", "é", "\xff", "\xe2", "-", "\"", "[", "]", "1", "0", "42", "007",
		"255", ".", "=", ";", "A", "Z", "\n", "GET", "/p", "HTTP/1.1", "\\", "\x01", "\t", "\x7f", "1e5", "0x1p9", "true", "T",
		"99999999999999999999", "-3", "+4", "abcdefghijklmnopqrstuvwxyz", "/static/app.js?v=12345678"}
	texts := slices.Clone(seeds)
	for range n {
		b := []byte(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(2) {
			at := rng.IntN(len(b) + 1)
			piece := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				b = slices.Insert(b, at, []byte(piece)...)
			case 1:
				if at < len(b) {
					b = slices.Delete(b, at, min(len(b), at+1+rng.IntN(3)))
				}
			default:
				if at < len(b) {
					b[at] = piece[rng.IntN(len(piece))]
				}
			}
		}
		texts = append(texts, string(b))
	}
	for range n {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		texts = append(texts, string(b))
	}
	return texts
}

func TestLinearEmitMatchesGeneral(t *testing.T) {
	clf := []string{
		`10.0.0.1 - u36701 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`,
		`10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 - "-" "é\xff"`,
		`192.168.100.200 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1&b=2 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
		`::1 - - [10/Oct/2000:13:55:36 -0700] "POST /a\"b HTTP/1.1" 0 007 "" ""`,
	}
	cases := []struct {
		pat      string
		types    map[string]string
		unnamed  bool
		seeds    []string
		emitting bool // the emitter must take the first seed
	}{
		{w4cPattern, map[string]string{"status": "int", "bytes": "int"}, false, clf, true},
		{w4cPattern, nil, false, clf, true},
		{w4cPattern, map[string]string{"status": "float", "bytes": "bool", "user": "int"}, false,
			append([]string{`10.0.0.1 - 42 [x] "GET / HTTP/1.1" 15 1 "-" "a"`}, clf...), true},
		{`^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) ([^"]+)" (\d+) (\d+|-)`, nil, true, clf, true},
		{`(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})(?: (?P<ms>[\d.]+)ms)?$`, map[string]string{"status": "int", "ms": "float"}, false,
			[]string{"GET /x 200 1.5ms", "GET /x 200", "xx GET /x 200"}, false},
		{`^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$`, map[string]string{"status": "int"}, false, []string{"GET /x 200", "GET /x 2000"}, true},
		{`^(?P<level>[A-Z]+) (?P<msg>.*)$`, nil, false, []string{"ERROR disk full", "INFO \"q\" é"}, true},
		{`^(?P<level>[A-Z]+) (?P<msg>.*)`, map[string]string{"level": "bool"}, false, []string{"T disk full", "FALSE x", "X y"}, true},
		{`^(?P<a>\d{1,3})\.(?P<b>\d{1,3})`, map[string]string{"a": "int", "b": "float"}, false, []string{"1.2", "001.02x", "1234.5"}, true},
		{`^(?P<a>[^ ]{2,4}) (?P<b>x|yz|é) ?(?P<c>a?)`, nil, false, []string{"ab x a", "abcd é"}, true},
		{`^(?P<k>\w+)=(?P<v>[^;]*);?`, map[string]string{"v": "int"}, false, []string{"a=1;", "a=-01;", "a=x"}, true},
		{`^(a+|b)(c?)$`, nil, true, []string{"aac", "b"}, true},
		{`^(?P<x>.)(?P<y>.)`, nil, false, []string{"ab", "é\xff"}, true},
		{`^é(?P<r>[^"]*)"`, nil, false, []string{`éabc"`, "é\x01\"x"}, true},
		{`^(?P<w>\S*?) (?P<z>\S+?)$`, nil, false, []string{"a b", " b"}, true},
		{`^(?:(?P<a>a)|(?P<b>b))(?P<c>c*)`, nil, false, []string{"acc", "b"}, false},
		{`^()(?P<e>)x`, nil, false, []string{"x"}, true},
		{`^(?P<o>(?P<i>\S+) (?P<j>[^"]*))"(?P<k>[^\t]+)`, nil, false, []string{`a b"c`}, false},
		{`^(?P<o>(\S+) ([^"]*))"(?P<k>[^\t]+)`, nil, false, []string{`a b"c`}, true},
		{`^(?P<a>\S+) (?P<b>\S+)`, map[string]string{"a": "int", "b": "float"}, false, []string{"12 1.5", "012 1e5", "x 1"}, true},
		{`^a very long literal prefix (?P<a>\S+) and a second long one (?P<b>[^"]*)"`, nil, false,
			[]string{`a very long literal prefix x and a second long one y"`}, true},
		{`^(?P<a>\d+)$`, map[string]string{"a": "int"}, false, []string{"123456789012345678", "1234567890123456789", "9223372036854775808", "0", "00"}, true},
		// Lines longer than the stop map emit keeps on its stack; [^x]
		// scans of two bytes of their own (c1, c2) and of a third.
		{w4cPattern, map[string]string{"status": "int", "bytes": "int"}, false, []string{
			`10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /` + strings.Repeat("abcdefgh", 40) + ` HTTP/1.1" 200 26 "-" "` + strings.Repeat("agent ", 50) + `"`}, true},
		{`^(?P<a>[^,]*),(?P<b>[^;]*);(?P<c>[^|]*)\|(?P<d>[^,]*),(?P<e>\d+)`, map[string]string{"e": "int"}, false,
			[]string{"x,y;z|w,12", "a,;|,0", "abcdefghijklmnop,abcdefghijklmnopq;r|s,1"}, true},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		t.Run(c.pat, func(t *testing.T) {
			p := newTestRegexParser(t, c.pat, c.types, c.unnamed)
			if p.emit == nil {
				if c.emitting {
					t.Fatalf("no emitter")
				}
				return
			}
			if !c.emitting {
				t.Fatalf("an emitter for a pattern it should refuse")
			}
			if !checkEmit(t, p, []byte(c.seeds[0]), 4096) {
				t.Fatalf("%q: emitter declined", c.seeds[0])
			}
			for _, text := range emitTexts(rng, c.seeds, 3000) {
				for _, room := range []int{4096, len(text) + 40 + rng.IntN(400)} {
					checkEmit(t, p, []byte(text), room)
				}
			}
		})
	}
}

// TestLinearEmitRefuses: patterns whose fields may not all take part, or
// nest, have no emitter.
func TestLinearEmitRefuses(t *testing.T) {
	for _, pat := range []string{
		`^(?:(?P<a>a)|(?P<b>b))`,
		`^(?P<o>(?P<i>\S+) )`,
		`^(?P<a>\S+)(?: (?P<b>\d+))?$`,
	} {
		if p := newTestRegexParser(t, pat, nil, false); p.emit != nil {
			t.Errorf("%s: an emitter", pat)
		}
	}
}

// emitPieces are what FuzzLinearEmit builds patterns of: literals,
// captures of the combined-log classes, and other nodes.
var emitPieces = []string{
	` `, `-`, ` \[`, `\] "`, `" `, `"`, `x`, `é`, `:`, `abcdefghij`,
	`(\S+)`, `([^\]]+)`, `(\d+)`, `"([^"]*)"`, `([^"]*)`, `(\d+|-)`, `([a-z]*)`, `(\w+)`, `(.)`, `([^ ]{1,3})`, `(\S*)`,
	`\S+`, `[^"]*`, `\d{2}`, `(?:a|b)`, `(?:\d+)`, `$`,
}

// fuzzPattern builds an anchored pattern of emitPieces from spec, one
// piece a byte; a byte's high bits choose the capture's type.
func fuzzPattern(spec []byte) (string, map[string]string) {
	pat := "^"
	types := map[string]string{}
	g := 0
	for _, b := range spec[:min(len(spec), 16)] {
		piece := emitPieces[int(b)%len(emitPieces)]
		if strings.HasPrefix(piece, "(") && !strings.HasPrefix(piece, "(?") || strings.HasPrefix(piece, `"(`) {
			g++
			name := fmt.Sprintf("g%d", g)
			piece = regexp.MustCompile(`^("?)\(`).ReplaceAllString(piece, "${1}(?P<"+name+">")
			if tp := []string{"", "", "int", "float", "bool"}[int(b>>5)%5]; tp != "" {
				types[name] = tp
			}
		}
		pat += piece
	}
	return pat, types
}

// FuzzLinearEmit compares the emitter with the general path on patterns
// of the combined-log kind (literals, captures of \S+, [^\]]+, \d+,
// "[^"]*", ...) and any text.
func FuzzLinearEmit(f *testing.F) {
	f.Add([]byte{10, 0, 21, 0, 10, 2, 11, 3, 10, 0, 10, 0, 14, 4, 12, 0, 15, 0, 13, 0, 13}, `10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`, 200)
	f.Add([]byte{12 | 64, 0, 15 | 64, 0, 13}, "42 - \"a\\b\xff\"", 64)
	f.Fuzz(func(t *testing.T, spec []byte, text string, room int) {
		pat, types := fuzzPattern(spec)
		if !bytes.Contains([]byte(pat), []byte("?P<")) {
			return // no named group: not a parse_regex pattern
		}
		p := newTestRegexParser(t, pat, types, false)
		if p.emit == nil {
			return
		}
		checkEmit(t, p, []byte(text), max(16, min(room%8192, 8192)))
	})
}

// BenchmarkLinearEmit: the emitter on bench/run.sh's combined-log lines
// (ns/op is per line).
func BenchmarkLinearEmit(b *testing.B) {
	p := newTestRegexParser(b, w4cPattern, map[string]string{"status": "int", "bytes": "int"}, false)
	lines := make([][]byte, 1000)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `10.0.0.1 - u%d [01/Jan/2026:00:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "-" "pipe-bench/1.0"`,
			rng.IntN(100000), rng.IntN(60), rng.IntN(60), []string{"GET", "POST", "PUT"}[rng.IntN(3)],
			[]string{"/health", "/v1/orders", "/v1/users/42"}[rng.IntN(3)], []int{200, 404, 503}[rng.IntN(3)], rng.IntN(200))
	}
	buf := make([]byte, 0, 4096)
	for i := 0; b.Loop(); i++ {
		out, ok := p.emit.emit(buf, lines[i%len(lines)])
		if !ok || len(out) == 0 {
			b.Fatal("declined")
		}
	}
}

// BenchmarkLinearMatched: the general path on the same lines.
func BenchmarkLinearMatched(b *testing.B) {
	p := newTestRegexParser(b, w4cPattern, map[string]string{"status": "int", "bytes": "int"}, false)
	line := []byte(`10.0.0.1 - u36701 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`)
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		if _, err := p.parseMatched(buf, line); err != nil {
			b.Fatal(err)
		}
	}
}
