package bytecase

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// flipCaseRef is Lua 5.1's string.upper (a-z) or lower (A-Z): byte by byte.
func flipCaseRef(s string, from, to byte) string {
	b := []byte(s)
	for i, c := range b {
		if from <= c && c <= to {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}

// Flip matches the byte-wise reference on every byte value, at every
// length and alignment around the eight-byte steps, and returns an
// unchanged string without copying it.
func TestFlip(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	cases := []string{"", "a", "Z", "hello, world", "HELLO, WORLD", "caf\xe9 \xc3\xa9t\xc3\xa9 Ab", string(all),
		"\xff\xfe\xe1\xfa\x80abcdefgh", "{\"msg\":\"\xc3\xa9t\xc3\xa9\"}"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 40; n++ {
		for range 20 {
			b := make([]byte, n)
			for i := range b {
				switch rng.IntN(3) {
				case 0:
					b[i] = byte(rng.IntN(256))
				case 1:
					b[i] = byte('A' + rng.IntN(58)) // letters and [\]^_`
				default:
					const edges = "@AZ[`az{\x7f\x80\xc1\xda\xe1\xfa\xfb"
					b[i] = edges[rng.IntN(len(edges))]
				}
			}
			cases = append(cases, string(b))
		}
	}
	for _, s := range cases {
		for _, r := range [][2]byte{{'a', 'z'}, {'A', 'Z'}} {
			if got, want := Flip(s, r[0], r[1]), flipCaseRef(s, r[0], r[1]); got != want {
				t.Fatalf("Flip(%q, %c-%c) = %q, want %q", s, r[0], r[1], got, want)
			}
		}
	}
	s := strings.Repeat("NO LOWER CASE \xe9 HERE ", 3)
	if got := Flip(s, 'a', 'z'); unsafe.StringData(got) != unsafe.StringData(s) {
		t.Fatalf("unchanged string changed: %q", got)
	}
}

// BenchmarkFlip compares Flip with the byte-wise loop it replaced
// (string.upper of a W2 line).
func BenchmarkFlip(b *testing.B) {
	line := `{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}`
	b.Run("swar", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for range b.N {
			_ = Flip(line, 'a', 'z')
		}
	})
	b.Run("bytewise", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for range b.N {
			_ = flipCaseRef(line, 'a', 'z')
		}
	})
}

// FlipASCII flips in place as the byte-wise reference does on ASCII text,
// and reports text with a byte from 0x80 up.
func TestFlipASCII(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 40; n++ {
		for range 20 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(0x80))
			}
			for _, upper := range []bool{true, false} {
				from, to := Range(upper)
				got := []byte(string(b))
				if !FlipASCII(got, from, to) {
					t.Fatalf("FlipASCII(%q) = false on ASCII text", b)
				}
				if want := flipCaseRef(string(b), from, to); string(got) != want {
					t.Fatalf("FlipASCII(%q, %c-%c) = %q, want %q", b, from, to, got, want)
				}
			}
			if n > 0 {
				nb := []byte(string(b))
				nb[rng.IntN(n)] = byte(0x80 + rng.IntN(0x80))
				if FlipASCII(nb, 'a', 'z') {
					t.Fatalf("FlipASCII(%q) = true with a byte from 0x80 up", nb)
				}
			}
		}
	}
}
