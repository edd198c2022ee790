package native

import (
	"math/rand/v2"
	"testing"
)

// TestStopMap compares stopMap with stopMapBytes at every length 0-300,
// with random bytes and with the bytes the maps look for.
func TestStopMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	special := []byte{0, 0x1f, ' ', '!', '"', '\\', '/', '0', '9', ':', ']', 0x7f, 0x80, 0xff}
	for n := range 301 {
		for round := range 8 {
			text := make([]byte, n)
			for i := range text {
				if round%2 == 0 {
					text[i] = byte(rng.IntN(256))
				} else {
					text[i] = special[rng.IntN(len(special))]
				}
			}
			c1, c2 := special[rng.IntN(len(special))], byte(rng.IntN(256))
			got := make([]uint64, stopMapLen(n)+3)
			for i := range got {
				got[i] = 0x5555
			}
			want := make([]uint64, stopMapLen(n))
			stopMap(text, c1, c2, got)
			stopMapBytes(text, c1, c2, want)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%d bytes %q, c1 %q c2 %q: word %d (map %d) %#x, want %#x", n, text, c1, c2, i, i%4, got[i], want[i])
				}
			}
			for i := len(want); i < len(got); i++ {
				if got[i] != 0x5555 {
					t.Fatalf("%d bytes: wrote past its words (word %d)", n, i)
				}
			}
		}
	}
}
