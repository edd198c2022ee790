package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func readAll(t testing.TB, in string, opt Options) (recs []string, errs []error) {
	r := NewReader(strings.NewReader(in), opt)
	for {
		b, err := r.Next()
		if err == io.EOF {
			return
		}
		var re *RecordError
		if errors.As(err, &re) {
			errs = append(errs, re)
			continue
		}
		if err != nil {
			t.Fatalf("read error: %v", err)
		}
		recs = append(recs, string(b))
	}
}

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	cases := []struct {
		name  string
		in    string
		opt   Options
		recs  []string
		nerrs int
	}{
		{"lines", "a\nb\nc\n", Options{Codec: Lines}, []string{"a", "b", "c"}, 0},
		{"no trailing newline", "a\nb", Options{Codec: Lines}, []string{"a", "b"}, 0},
		{"empty input", "", Options{Codec: Lines}, nil, 0},
		{"empty lines kept", "a\n\nb\n", Options{Codec: Lines}, []string{"a", "", "b"}, 0},
		{"crlf kept", "a\r\n", Options{Codec: Lines}, []string{"a\r"}, 0},
		{"ndjson", "{\"a\":1}\n  \n[1,2]\n", Options{Codec: NDJSON}, []string{`{"a":1}`, "[1,2]"}, 0},
		{"ndjson malformed", "{\"a\":1}\n{oops\n2\n", Options{Codec: NDJSON}, []string{`{"a":1}`, "2"}, 1},
		{"ndjson two values", "1 2\n", Options{Codec: NDJSON}, nil, 1},
		{"too large", "ab\n" + strings.Repeat("x", 20) + "\ncd", Options{Codec: Lines, MaxBytes: 10}, []string{"ab", "cd"}, 1},
		{"long line fits", big + "\nz\n", Options{Codec: Lines, MaxBytes: 1 << 20}, []string{big, "z"}, 0},
		{"long line too large", big + big + big + big + "\nz", Options{Codec: Lines, MaxBytes: 1 << 20}, []string{"z"}, 1},
		{"nul allowed", "a\x00b\n", Options{Codec: Lines}, []string{"a\x00b"}, 0},
		{"nul rejected", "a\x00b\nc\n", Options{Codec: Lines, RejectNUL: true}, []string{"c"}, 1},
		{"utf8 rejected", "\xff\xfe\nok\n", Options{Codec: Lines, ValidateUTF8: true}, []string{"ok"}, 1},
		{"raw", "a\nb\n", Options{Codec: Raw}, []string{"a\nb\n"}, 0},
		{"raw empty", "", Options{Codec: Raw}, nil, 0},
		{"raw too large", strings.Repeat("y", 2000), Options{Codec: Raw, MaxBytes: 100}, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, errs := readAll(t, c.in, c.opt)
			if len(errs) != c.nerrs {
				t.Fatalf("got %d record errors (%v), want %d", len(errs), errs, c.nerrs)
			}
			if len(recs) != len(c.recs) {
				t.Fatalf("got %d records, want %d", len(recs), len(c.recs))
			}
			for i := range recs {
				if recs[i] != c.recs[i] {
					t.Errorf("record %d = %.40q, want %.40q", i, recs[i], c.recs[i])
				}
			}
		})
	}
}

func TestTooLargeKeepsPrefixAndSize(t *testing.T) {
	in := strings.Repeat("q", 5000) + "\n"
	_, errs := readAll(t, in, Options{Codec: Lines, MaxBytes: 100})
	var re *RecordError
	if len(errs) != 1 || !errors.As(errs[0], &re) {
		t.Fatalf("errs = %v", errs)
	}
	if re.Size != 5000 || len(re.Data) != KeepPrefix || !errors.Is(re, ErrTooLarge) {
		t.Fatalf("size %d, kept %d, err %v", re.Size, len(re.Data), re.Err)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"a\nb", "{\"a\":1}\n", "\n\n", "\x00\xff\n", "[1,\n2]"} {
		f.Add([]byte(s), uint8(0), uint16(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, codecN uint8, max uint16) {
		codecName := []string{Lines, NDJSON, Raw}[int(codecN)%3]
		opt := Options{Codec: codecName, MaxBytes: int(max) + 1, RejectNUL: codecN&4 != 0, ValidateUTF8: codecN&8 != 0}
		r := NewReader(bytes.NewReader(data), opt)
		total := 0
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatal("reader does not terminate")
			}
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			var re *RecordError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > opt.MaxBytes {
				t.Fatalf("record of %d bytes passed a limit of %d", len(b), opt.MaxBytes)
			}
			if codecName == Lines && bytes.IndexByte(b, '\n') >= 0 {
				t.Fatal("line record contains a newline")
			}
			if codecName == NDJSON && !ValidJSON(b) {
				t.Fatalf("invalid JSON passed: %q", b)
			}
			total += len(b)
		}
		if total > len(data) {
			t.Fatalf("read %d bytes of records from %d bytes of input", total, len(data))
		}
	})
}

// splitAll runs a Splitter the way the engine does: reads of uneven sizes
// into a buffer of limited capacity, carrying the unfinished line over.
func splitAll(data []byte, opt Options, readSize, bufCap int) (recs []string, errs []*RecordError) {
	return splitAllWith(data, opt, readSize, bufCap, false, nil)
}

// splitAllWith is splitAll; with lines, a Plain Splitter frames with
// SplitLines and hands what it leaves to Split, as the engine does; events
// gets every record and error in the order they came.
func splitAllWith(data []byte, opt Options, readSize, bufCap int, lines bool, events *[]string) (recs []string, errs []*RecordError) {
	return splitAllMode(data, opt, readSize, bufCap, lines, false, events)
}

// splitAllMode is splitAllWith that, with countLines, frames with
// CountLines wherever it frames (its records cut from the run it reports).
func splitAllMode(data []byte, opt Options, readSize, bufCap int, lines, countLines bool, events *[]string) (recs []string, errs []*RecordError) {
	s := NewSplitter(opt)
	buf := make([]byte, 0, bufCap)
	keep := 0
	rec := func(a, b int) {
		recs = append(recs, string(buf[a:b]))
		if events != nil {
			*events = append(*events, "record "+string(buf[a:b]))
		}
	}
	bad := func(e *RecordError) {
		errs = append(errs, e)
		if events != nil {
			*events = append(*events, fmt.Sprintf("error %v %d %q", e.Err, e.Size, e.Data))
		}
	}
	var ends []int
	split := func(from, limit int) (int, bool) {
		if countLines {
			if n, next, ok := s.CountLines(buf, from); ok {
				got := 0
				for from < next {
					e := from + bytes.IndexByte(buf[from:next], '\n')
					rec(from, e)
					from = e + 1
					got++
				}
				if got != n {
					panic(fmt.Sprintf("CountLines counted %d lines, buf[from:next] holds %d", n, got))
				}
				return next, false
			}
		}
		if !lines || !s.Plain() {
			return s.Split(buf, from, limit, rec, bad)
		}
		var next int
		var more, ok bool
		ends, next, more, ok = s.SplitLines(buf, from, limit, ends[:0])
		for _, e := range ends {
			rec(from, e)
			from = e + 1
		}
		if ok {
			return next, more
		}
		return s.Split(buf, next, limit-len(ends), rec, bad)
	}
	for len(data) > 0 {
		// carry the unfinished line to the front of a fresh buffer
		tail := append([]byte(nil), buf[keep:]...)
		buf = append(buf[:0], tail...)
		if cap(buf)-len(buf) < readSize {
			buf = append(make([]byte, 0, len(buf)+readSize), buf...)
		}
		n := min(readSize, len(data))
		buf = append(buf, data[:n]...)
		data = data[n:]
		for {
			var more bool
			keep, more = split(0, 2)
			if !more {
				break
			}
			buf = append(buf[:0], buf[keep:]...)
		}
	}
	s.Finish(buf, keep, rec, bad)
	return recs, errs
}

func TestSplitterMatchesReader(t *testing.T) {
	in := "a\n\nbb\r\n" + strings.Repeat("z", 300) + "\n{\"k\":1}\n  \nlast"
	for _, codec := range []string{Lines, NDJSON} {
		for _, rs := range []int{1, 3, 64, 4096} {
			opt := Options{Codec: codec, MaxBytes: 100}
			want, werrs := readAll(t, in, opt)
			got, gerrs := splitAll([]byte(in), opt, rs, 128)
			if strings.Join(got, "|") != strings.Join(want, "|") || len(gerrs) != len(werrs) {
				t.Errorf("%s, reads of %d: got %q (%d errors), want %q (%d errors)", codec, rs, got, len(gerrs), want, len(werrs))
			}
		}
	}
}

// SplitLines with Split after it where it stops frames plain lines
// exactly as Split alone: the same records and errors in the same order,
// for lines longer than MaxBytes ending in a read or across many.
func TestSplitLinesMatchesSplit(t *testing.T) {
	in := "a\n\nbb\r\n" + strings.Repeat("z", 300) + "\nshort\n" + strings.Repeat("y", 101) + "\n" + strings.Repeat("w", 100) + "\nx\n" + strings.Repeat("v", 250) + "last"
	for _, rs := range []int{1, 3, 7, 64, 100, 101, 4096} {
		for _, c := range []int{16, 128, 1024} {
			opt := Options{Codec: Lines, MaxBytes: 100}
			var want, got []string
			splitAllWith([]byte(in), opt, rs, c, false, &want)
			splitAllWith([]byte(in), opt, rs, c, true, &got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("reads of %d: SplitLines\n%q\nSplit\n%q", rs, got, want)
			}
		}
	}
}

// CountLines, where it frames, reports the lines Split would frame: the
// same records in the same order, the same errors around them.
func TestCountLinesMatchesSplit(t *testing.T) {
	in := "a\n\nbb\r\n" + strings.Repeat("z", 300) + "\nshort\n" + strings.Repeat("y", 101) + "\n" + strings.Repeat("w", 100) + "\nx\n" + strings.Repeat("v", 250) + "last"
	for _, rs := range []int{1, 3, 7, 64, 100, 101, 4096} {
		for _, max := range []int{100, 1 << 20} {
			opt := Options{Codec: Lines, MaxBytes: max}
			var want, got []string
			splitAllWith([]byte(in), opt, rs, 128, false, &want)
			splitAllMode([]byte(in), opt, rs, 128, true, true, &got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("reads of %d, max %d: CountLines\n%q\nSplit\n%q", rs, max, got, want)
			}
		}
	}
	s := NewSplitter(Options{Codec: NDJSON})
	if _, _, ok := s.CountLines([]byte("{}\n"), 0); ok {
		t.Error("CountLines framed ndjson, which Split checks")
	}
	s = NewSplitter(Options{Codec: Lines, MaxBytes: 4})
	if n, next, ok := s.CountLines([]byte("ab\ncd\n"), 0); ok {
		t.Errorf("CountLines framed 6 bytes under max_record_bytes 4: %d lines to %d", n, next)
	}
}

// FuzzSplitLines: SplitLines and Split frame any input alike.
func FuzzSplitLines(f *testing.F) {
	f.Add([]byte("a\nb\n\n"+strings.Repeat("x", 70)+"\ny"), uint8(3), uint16(8))
	f.Fuzz(func(t *testing.T, data []byte, readSize uint8, max uint16) {
		opt := Options{Codec: Lines, MaxBytes: int(max%200) + 1}
		var want, got []string
		splitAllWith(data, opt, int(readSize)+1, 32, false, &want)
		splitAllWith(data, opt, int(readSize)+1, 32, true, &got)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("SplitLines %q, Split %q", got, want)
		}
		var counted []string
		splitAllMode(data, opt, int(readSize)+1, 32, true, true, &counted)
		if strings.Join(counted, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("CountLines %q, Split %q", counted, want)
		}
	})
}

// FuzzSplitter checks that the zero-copy Splitter frames any input exactly
// as the Reader does, whatever the sizes of the reads.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a\nb\n{\"x\":1}\n\n"), uint8(0), uint8(3), uint16(8))
	f.Add([]byte(strings.Repeat("x", 70)+"\ny"), uint8(1), uint8(7), uint16(16))
	f.Fuzz(func(t *testing.T, data []byte, flags, readSize uint8, max uint16) {
		opt := Options{Codec: []string{Lines, NDJSON}[flags%2], MaxBytes: int(max%2000) + 1,
			RejectNUL: flags&2 != 0, ValidateUTF8: flags&4 != 0}
		want, werrs := readAll(t, string(data), opt)
		got, gerrs := splitAll(data, opt, int(readSize)+1, 32)
		if strings.Join(got, "\x00|") != strings.Join(want, "\x00|") {
			t.Fatalf("splitter %q, reader %q", got, want)
		}
		if len(gerrs) != len(werrs) {
			t.Fatalf("splitter %d errors, reader %d", len(gerrs), len(werrs))
		}
		for i := range gerrs {
			if gerrs[i].Err != werrs[i].(*RecordError).Err || gerrs[i].Size != werrs[i].(*RecordError).Size {
				t.Fatalf("error %d: splitter %v (%d), reader %v", i, gerrs[i], gerrs[i].Size, werrs[i])
			}
		}
	})
}
