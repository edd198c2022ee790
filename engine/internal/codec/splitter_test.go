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

// countMaxCase checks CountLinesMax on data against Split, which frames
// the same bytes line by line: the lines counted are Split's first records,
// with no error among them, and what follows is the line where Split has
// an error (len > max) or the unfinished last line (no newline in it).
func countMaxCase(t *testing.T, data []byte, max int) {
	t.Helper()
	n, next := CountLinesMax(data, max)
	s := NewSplitter(Options{Codec: Lines, MaxBytes: max})
	var recs [][2]int
	var errs []int // the number of records framed before each error
	rec := func(a, b int) { recs = append(recs, [2]int{a, b}) }
	bad := func(*RecordError) { errs = append(errs, len(recs)) }
	keep, _ := s.Split(data, 0, 0, rec, bad)
	if keep < len(data) {
		s.Finish(data, keep, rec, bad)
	} else {
		s.Finish(data, len(data), rec, bad)
	}
	if n > len(recs) || len(errs) > 0 && errs[0] < n {
		t.Fatalf("max %d: counted %d lines, Split framed %d records before its first error (%v)", max, n, len(recs), errs)
	}
	want := 0
	if n > 0 {
		want = recs[n-1][1] + 1
	}
	if next != want {
		t.Fatalf("max %d: next %d, Split's %d lines end at %d", max, next, n, want)
	}
	rest := data[next:]
	switch {
	case len(rest) > max:
		if len(errs) == 0 || errs[0] != n {
			t.Fatalf("max %d: a line of more than %d bytes at %d, but Split's errors after records %v", max, max, next, errs)
		}
	case bytes.IndexByte(rest, '\n') >= 0:
		t.Fatalf("max %d: stopped at %d before a complete line of at most max bytes (%q)", max, next, rest)
	}
}

func TestCountLinesMax(t *testing.T) {
	for _, tc := range []struct {
		data string
		max  int
	}{
		{"", 4},
		{"\n", 4},
		{"abcd\n", 4},
		{"abcde\n", 4},
		{"ab\nabcd\nabcde\nx\n", 4},
		{"ab\nab", 4},
		{"ab\nabcde", 4},
		{"ab\nabcd", 4},
		{"\n\n\n\nabcd\n\nab", 2},
		{"a\nb\nc\nd\ne\nf\ng\nh\n", 1},
	} {
		countMaxCase(t, []byte(tc.data), tc.max)
	}
}

func FuzzCountLinesMax(f *testing.F) {
	f.Add([]byte("ab\nabcd\nabcde\nx\nyy"), uint16(4))
	f.Add([]byte("\n\n\nlong line here\n"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		countMaxCase(t, data, int(max%300)+1)
	})
}
