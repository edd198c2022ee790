package native

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
)

// TestLinearMatchesRegexp compares the linear matcher with package regexp
// on every pattern it accepts, over generated texts built from the
// pattern's own pieces, white space, non-ASCII and invalid UTF-8.
func TestLinearMatchesRegexp(t *testing.T) {
	accepted := []string{
		`^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<proto>[^"]+)" (?P<status>\d+) (?P<bytes>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"`,
		`^(?P<level>[A-Z]+) (?P<msg>.*)$`,
		`^(?P<level>[A-Z]+) (?P<msg>.*)`,
		`^(?P<a>\d{1,3})\.(?P<b>\d{1,3})`,
		`^(?P<a>[^ ]{2,4}) (?P<b>x|yz|é) ?(?P<c>a?)`,
		`^(?P<k>\w+)=(?P<v>[^;]*);?`,
		`^(a+|b)(c?)$`,
		`^(?P<x>.)(?P<y>.)`,
		`^é(?P<r>[^"]*)"`,
		`^(?P<w>\S*?) (?P<z>\S+?)$`,
		`^(?:(?P<a>a)|(?P<b>b))(?P<c>c*)`,
		`^()(?P<e>)x`,
		`^(?P<o>(?P<i>\S+) (?P<j>[^"]*))"(?P<k>[^\t]+)`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	linear := 0
	for _, pat := range accepted {
		re := regexp.MustCompile(pat)
		m := compileLinear(pat)
		if m == nil {
			t.Fatalf("not linear: %s", pat)
		}
		linear++
		if m.ncap != re.NumSubexp() {
			t.Fatalf("%s: %d groups, regexp has %d", pat, m.ncap, re.NumSubexp())
		}
		// The seeds, the seeds with one or two pieces replaced, inserted or
		// removed, and random strings of pieces (emitTexts).
		texts := emitTexts(rng, []string{"", `10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`,
			`10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 - "-" "é\xff"`, "ERROR disk full", "a=b;c=d"}, 3000)
		for _, text := range texts {
			want := re.FindSubmatchIndex([]byte(text))
			got := m.match([]byte(text))
			if !slices.Equal(got, want) {
				t.Fatalf("%s on %q: linear %v, regexp %v", pat, text, got, want)
			}
			for g := 1; got != nil && g <= m.ncap; g++ {
				if v := text[max(got[2*g], 0):max(got[2*g+1], 0)]; m.clean[g] && plainRun(v, 0) != len(v) {
					t.Fatalf("%s on %q: group %d %q is not plain JSON string text, but clean", pat, text, g, v)
				}
			}
		}
	}
	// The bench's lines take the copy without escaping.
	m := compileLinear(accepted[0])
	if m.match([]byte(`10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`)) == nil ||
		slices.Contains(m.clean[1:], false) {
		t.Fatalf("combined-log line: clean %v, want every group clean", m.clean)
	}
	if linear < len(accepted) {
		t.Fatalf("only %d patterns are linear", linear)
	}
}

func TestLinearRefuses(t *testing.T) {
	for _, pat := range []string{
		`(?P<a>\S+) x`,         // not anchored
		`^(?P<a>\S+)\S`,        // the run's end is not decided by the next byte
		`^(?P<a>a|ab)`,         // branches start alike
		`^(?P<a>.*)x`,          // .* then x
		`^(?i)(?P<a>get) x`,    // case folding
		`^(?P<a>[a-zé]+) `,     // some non-ASCII characters only
		`^(?P<a>\S+?)`,         // lazy at the end of the pattern
		`^(?P<a>x|$)`,          // a branch that starts with $
		`^(?P<a>\bx)`,          // word boundary
		`^(?P<a>(?:ab)+) `,     // repetition of more than a character
		`^(?P<h>[0-9a-f]{2})+`, // a repeated capture
		`^(?P<b>x)?`,           // an optional capture
		`^é+(?P<r>[^é]*)`,      // some non-ASCII characters only
	} {
		if compileLinear(pat) != nil {
			t.Errorf("%s: compiled, want nil", pat)
		}
	}
}

// FuzzLinearCombinedLog compares the linear matcher with package regexp
// on the combined-log pattern over any text: the same submatches, and a
// group reported clean holds only bytes a JSON string takes as they are.
func FuzzLinearCombinedLog(f *testing.F) {
	const pat = `^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<proto>[^"]+)" (?P<status>\d+) (?P<bytes>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"`
	f.Add(`10.0.0.1 - u1 [01/Jan/2026:00:00:00 +0000] "GET /health HTTP/1.1" 503 26 "-" "pipe-bench/1.0"`)
	f.Add("10.0.0.1\xff - u\"1 [01/Jan/2026:00:00:00 \\+0000] \"GET /h\xe2 HTTP/1.1\" 503 - \"\x01\" \"é\"")
	re := regexp.MustCompile(pat)
	m := compileLinear(pat)
	f.Fuzz(func(t *testing.T, text string) {
		want := re.FindSubmatchIndex([]byte(text))
		got := m.match([]byte(text))
		if !slices.Equal(got, want) {
			t.Fatalf("on %q: linear %v, regexp %v", text, got, want)
		}
		for g := 1; got != nil && g <= m.ncap; g++ {
			if v := text[max(got[2*g], 0):max(got[2*g+1], 0)]; m.clean[g] && plainRun(v, 0) != len(v) {
				t.Fatalf("on %q: group %d %q is not plain JSON string text, but clean", text, g, v)
			}
		}
	})
}
