package codec

import (
	"bytes"
	"testing"
)

// A long line arriving in small reads (64 KiB from a pipe) is searched for
// its newline once, not once per read: the work is linear in its length.
func TestSplitLongLineLinear(t *testing.T) {
	const size, read = 16 << 20, 64 << 10
	for _, codecName := range []string{Lines, NDJSON} {
		t.Run(codecName, func(t *testing.T) {
			s := NewSplitter(Options{Codec: codecName, MaxBytes: 32 << 20})
			line := append([]byte(`"`), bytes.Repeat([]byte("a"), size-2)...)
			line = append(line, '"', '\n', '1', '\n')
			var got [][2]int
			rec := func(a, b int) { got = append(got, [2]int{a, b}) }
			bad := func(e *RecordError) { t.Fatalf("bad record: %v", e) }
			var buf []byte
			keep := 0
			for off := 0; off < len(line); off += read {
				// The caller's contract: what was not consumed stays at
				// the front, new bytes follow it.
				buf = append(buf[:copy(buf, buf[keep:])], line[off:min(off+read, len(line))]...)
				keep, _ = s.Split(buf, 0, 0, rec, bad)
			}
			if len(got) != 2 || got[0][1]-got[0][0] != size || got[1][1]-got[1][0] != 1 {
				t.Fatalf("records = %v; want one of %d bytes and one of 1", got, size)
			}
			if s.scanned > 2*int64(len(line)) {
				t.Errorf("searched %d bytes for newlines in a %d-byte input: quadratic", s.scanned, len(line))
			}
		})
	}
}
