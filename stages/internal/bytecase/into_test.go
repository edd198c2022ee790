package bytecase

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// checkFlipInto compares FlipInto with the byte-wise reference and with
// Flip on s: the result, the changed flag, and nothing written past
// len(s) (nor anything at all when nothing changes).
func checkFlipInto(t *testing.T, s string) {
	t.Helper()
	for _, r := range [][2]byte{{'a', 'z'}, {'A', 'Z'}} {
		want := flipCaseRef(s, r[0], r[1])
		dst := bytes.Repeat([]byte{'#'}, len(s)+9)
		changed := FlipInto(dst, s, r[0], r[1])
		if changed != (want != s) {
			t.Fatalf("FlipInto(%q, %c-%c) changed = %v, want %v", s, r[0], r[1], changed, want != s)
		}
		got := s
		if changed {
			got = string(dst[:len(s)])
		} else if string(dst[:len(s)]) != string(bytes.Repeat([]byte{'#'}, len(s))) {
			t.Fatalf("FlipInto(%q) wrote %q although nothing changes", s, dst[:len(s)])
		}
		if got != want || got != Flip(s, r[0], r[1]) {
			t.Fatalf("FlipInto(%q, %c-%c) = %q, want %q", s, r[0], r[1], got, want)
		}
		if string(dst[len(s):]) != "#########" {
			t.Fatalf("FlipInto(%q) wrote past len(s): %q", s, dst[len(s):])
		}
	}
}

// FlipInto matches the byte-wise reference on every byte value, at every
// length and alignment around the eight-byte steps.
func TestFlipInto(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	cases := []string{"", "a", "Z", "hello, world", "HELLO, WORLD", "12345678abc", "1234567890123456a",
		"caf\xe9 \xc3\xa9t\xc3\xa9 Ab", string(all), "\xff\xfe\xe1\xfa\x80abcdefgh"}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 100; n++ {
		for range 30 {
			b := make([]byte, n)
			for i := range b {
				switch rng.IntN(4) {
				case 0:
					b[i] = byte(rng.IntN(256))
				case 1:
					b[i] = byte('A' + rng.IntN(58))
				case 2:
					b[i] = ' ' // long runs without letters
				default:
					const edges = "@AZ[`az{\x7f\x80\xc1\xda\xe1\xfa\xfb"
					b[i] = edges[rng.IntN(len(edges))]
				}
			}
			cases = append(cases, string(b))
		}
	}
	for _, s := range cases {
		checkFlipInto(t, s)
		if len(s) > 3 {
			checkFlipInto(t, s[3:]) // another alignment
		}
	}
}

func FuzzFlipInto(f *testing.F) {
	for _, s := range []string{"", "abc", "ABC def \xe9\xff", "{\"msg\":\"x\"}0123456789"} {
		f.Add(s)
	}
	f.Fuzz(checkFlipInto)
}

func BenchmarkFlipInto(b *testing.B) {
	line := `{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}`
	dst := make([]byte, len(line))
	b.SetBytes(int64(len(line)))
	for range b.N {
		FlipInto(dst, line, 'a', 'z')
	}
}
