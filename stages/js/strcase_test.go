package js

import (
	"testing"

	"github.com/dop251/goja"
	"github.com/pipe-dev/pipe/stages/internal/bytecase"
)

// TestFastCase checks toUpperCase and toLowerCase with the ASCII fast path
// against goja's own, on ASCII and other text, String objects and other
// this values, and that the methods look as built in.
func TestFastCase(t *testing.T) {
	const probe = `[
		"", "a", "Hello, World! 0123456789 {\"level\":\"error\"}", "already UPPER", "MiXeD cAsE with ~` + "`" + ` and @[]",
		"caf\u00e9", "stra\u00dfe", "\u0131stanbul", "\ud800 lone", "long ascii text that is longer than eight bytes and then \u00e9",
	].flatMap(s => [s.toUpperCase(), s.toLowerCase()])
	.concat([
		String.prototype.toUpperCase.call(new String("boxed")),
		String.prototype.toLowerCase.call(42),
		(() => { try { return String.prototype.toUpperCase.call(null) } catch (e) { return e.name } })(),
		String.prototype.toUpperCase.name, String.prototype.toLowerCase.length,
		Object.keys(String.prototype).join(","),
		JSON.stringify(Object.getOwnPropertyDescriptor(String.prototype, "toUpperCase").enumerable),
		JSON.stringify(Object.getOwnPropertyDescriptor(String.prototype.toUpperCase, "name")),
	]).join("|")`
	plain := goja.New()
	want, err := plain.RunString(probe)
	if err != nil {
		t.Fatal(err)
	}
	fast := goja.New()
	fastCase(fast)
	got, err := fast.RunString(probe)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("with the fast path:\n%s\nwant\n%s", got, want)
	}
	for _, c := range []struct {
		in, up string
		ok     bool
	}{{"", "", true}, {"abc xyz{}", "ABC XYZ{}", true}, {"0123456789abcdefghij`{", "0123456789ABCDEFGHIJ`{", true}, {"caf\u00e9", "", false}} {
		rt := goja.New()
		findASCII(rt)
		up, ok := asciiCase(rt, c.in, true)
		if ok != c.ok || (ok && (up.String() != c.up || !up.StrictEquals(rt.ToValue(c.up)))) {
			t.Errorf("asciiCase(%q) = %v, %v", c.in, up, ok)
		}
	}
}

// TestFlipCopy compares flipCopy with a byte-by-byte change of case on
// every length up to 80 (each tail and overlap), with a byte outside
// ASCII at each position and the bytes around the letters' bounds.
func TestFlipCopy(t *testing.T) {
	ref := func(s string, from, to byte) (string, bool) {
		b := []byte(s)
		for i, c := range b {
			if c >= 0x80 {
				return "", false
			}
			if from <= c && c <= to {
				b[i] = c ^ 0x20
			}
		}
		return string(b), true
	}
	alphabet := []byte("@AMZ[`amz{ 09~\x00\x7f")
	for _, upper := range []bool{true, false} {
		from, to := byte('a'), byte('z')
		if !upper {
			from, to = 'A', 'Z'
		}
		for n := 0; n <= 80; n++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = alphabet[(i*7+n)%len(alphabet)]
			}
			for bad := -1; bad < n; bad++ {
				s := append([]byte(nil), src...)
				if bad >= 0 {
					s[bad] = 0x80 | byte(bad)
				}
				dst := make([]byte, n)
				ok := flipCopy(dst, string(s), from, to)
				want, wok := ref(string(s), from, to)
				if ok != wok || (ok && string(dst) != want) {
					t.Fatalf("flipCopy(%q, upper %v) = %q, %v; want %q, %v", s, upper, dst, ok, want, wok)
				}
			}
		}
	}
}

// FuzzFlipCopy compares flipCopy with bytecase.FlipASCII on a copy.
func FuzzFlipCopy(f *testing.F) {
	f.Add("Hello, World! 0123456789 {\"level\":\"error\"}", true)
	f.Add("caf\u00e9 au lait, s'il vous pla\u00eet", false)
	f.Fuzz(func(t *testing.T, s string, upper bool) {
		from, to := bytecase.Range(upper)
		want := []byte(s)
		wok := bytecase.FlipASCII(want, from, to)
		got := make([]byte, len(s))
		ok := flipCopy(got, s, from, to)
		if ok != wok || (ok && string(got) != string(want)) {
			t.Fatalf("flipCopy(%q, upper %v) = %q, %v; FlipASCII: %q, %v", s, upper, got, ok, want, wok)
		}
	})
}
