package codec

import (
	"bytes"
)

// Splitter frames lines and ndjson records in buffers that its caller
// fills, without copying: records are sub-slices of the caller's buffer.
// It is what the engine's input uses; Reader is the simple, copying
// equivalent (and the reference the fuzz test compares it with).
type Splitter struct {
	opt      Options
	skipping bool  // inside an oversized line: discarding up to its newline
	skipSize int64 // bytes of the oversized line so far
	prefix   []byte
	clean    int   // bytes at the start of the unfinished line known to hold no newline
	scanned  int64 // bytes searched for a newline (tests check it stays linear)

	// Lines whose JSON validity was checked already (see Checked), in the
	// coordinates of the buffer when Checked was called: ckShift is added
	// to a position in the current buffer to get there.
	ckLo, ckHi, ckShift int
	ckInvalid           []int
}

// Checked tells the Splitter that the ndjson lines that start in
// buf[lo:hi] and end (at their newline) before hi were checked already:
// those starting at the offsets in invalid (ascending) are not one JSON
// value, the others are, so Split does not check them again. It replaces
// what an earlier call said; lo == hi says nothing is checked. A line is
// checked as Split would (blanks around it trimmed, blank lines skipped).
func (s *Splitter) Checked(lo, hi int, invalid []int) {
	s.ckLo, s.ckHi, s.ckShift, s.ckInvalid = lo, hi, 0, invalid
}

// Shift tells the Splitter that the caller moved the bytes of its buffer
// d bytes towards its start (the unconsumed rest carried to the front).
func (s *Splitter) Shift(d int) { s.ckShift += d }

// CheckLines returns the offsets of the lines of buf[lo:] (each ended by a
// newline; bytes after the last newline are ignored) that are not one JSON
// value, as the ndjson codec checks them: for Checked.
func CheckLines(buf []byte, lo int, invalid []int) []int {
	for lo < len(buf) {
		nl := bytes.IndexByte(buf[lo:], '\n')
		if nl < 0 {
			break
		}
		start, end := lo, lo+nl
		for end > start && isSpace(buf[end-1]) {
			end--
		}
		for start < end && isSpace(buf[start]) {
			start++
		}
		if start < end && !ValidJSON(buf[start:end]) {
			invalid = append(invalid, lo)
		}
		lo += nl + 1
	}
	return invalid
}

// checked reports whether the line buf[line:end] (end at its newline) was
// checked, and if so whether it is valid JSON.
func (s *Splitter) checked(line, end int) (known, valid bool) {
	line += s.ckShift
	end += s.ckShift
	if line < s.ckLo || end >= s.ckHi {
		return false, false
	}
	for len(s.ckInvalid) > 0 && s.ckInvalid[0] < line {
		s.ckInvalid = s.ckInvalid[1:]
	}
	return true, len(s.ckInvalid) == 0 || s.ckInvalid[0] != line
}

// NewSplitter returns a Splitter for the lines or ndjson codec.
func NewSplitter(opt Options) *Splitter {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 20
	}
	return &Splitter{opt: opt}
}

// Split finds the complete records in buf[from:] (from is where the
// unfinished line of the previous call began). For each record it calls rec
// with its bounds in buf; for each rejected record, bad. It returns keep:
// buf[keep:] is what it has not consumed, which the caller carries over and
// passes again, with more bytes after it, to the next call. When the
// unfinished line grows past MaxBytes, Split starts discarding it and
// returns keep == len(buf) (nothing to carry); its RecordError comes when
// its newline does.
//
// With limit > 0, Split stops after limit records and reports more: then
// buf[keep:] may hold complete records still, and the caller calls Split
// again on them before reading more.
//
// A long line arriving in many small reads costs time linear in its
// length: the bytes of the unfinished line that an earlier call searched
// are not searched again.
func (s *Splitter) Split(buf []byte, from, limit int, rec func(start, end int), bad func(*RecordError)) (keep int, more bool) {
	pos := from
	clean := min(s.clean, len(buf)-pos)
	s.clean = 0
	if s.skipping {
		s.scanned += int64(len(buf) - pos)
		nl := bytes.IndexByte(buf[pos:], '\n')
		if nl < 0 {
			s.skipSize += int64(len(buf) - pos)
			return len(buf), false
		}
		s.skipSize += int64(nl)
		bad(&RecordError{Err: ErrTooLarge, Data: s.prefix, Size: s.skipSize})
		s.skipping, s.prefix = false, nil
		pos += nl + 1
	}
	n := 0
	for {
		if limit > 0 && n >= limit {
			return pos, true
		}
		nl := bytes.IndexByte(buf[pos+clean:], '\n')
		if nl < 0 {
			s.scanned += int64(len(buf) - pos - clean)
			break
		}
		s.scanned += int64(nl + 1)
		nl += clean
		clean = 0
		if s.record(buf, pos, pos+nl, rec, bad) {
			n++
		}
		pos += nl + 1
	}
	if len(buf)-pos > s.opt.MaxBytes {
		s.skipping = true
		s.skipSize = int64(len(buf) - pos)
		s.prefix = append([]byte(nil), buf[pos:pos+min(KeepPrefix, len(buf)-pos)]...)
		return len(buf), false
	}
	s.clean = len(buf) - pos // no newline in the unfinished line
	return pos, false
}

// Plain reports whether Split hands every line over as it is (the lines
// codec without NUL or UTF-8 checks): then SplitLines may frame them.
func (s *Splitter) Plain() bool {
	return s.opt.Codec != NDJSON && !s.opt.RejectNUL && !s.opt.ValidateUTF8
}

// SplitLines is Split for a Plain Splitter without a call per record: it
// appends the end (the index of its newline) of each complete line of
// buf[from:] to ends, at most limit (limit <= 0: no limit), each line
// starting after the newline of the one before (the first at from). With
// ok, next and more are Split's keep and more. It stops early, ok false,
// where Split has something to report or discard (a line longer than
// MaxBytes, ending in this buffer or not, or an oversized line being
// discarded): the caller then passes buf[next:] on to Split, as from.
func (s *Splitter) SplitLines(buf []byte, from, limit int, ends []int) (_ []int, next int, more, ok bool) {
	if s.skipping {
		return ends, from, false, false
	}
	pos := from
	clean := min(s.clean, len(buf)-pos)
	s.clean = 0
	for n := 0; ; n++ {
		if limit > 0 && n >= limit {
			return ends, pos, true, true
		}
		nl := bytes.IndexByte(buf[pos+clean:], '\n')
		if nl < 0 {
			s.scanned += int64(len(buf) - pos - clean)
			break
		}
		s.scanned += int64(nl + 1)
		nl += clean
		clean = 0
		if nl > s.opt.MaxBytes {
			return ends, pos, false, false
		}
		ends = append(ends, pos+nl)
		pos += nl + 1
	}
	if len(buf)-pos > s.opt.MaxBytes {
		return ends, pos, false, false
	}
	s.clean = len(buf) - pos // no newline in the unfinished line
	return ends, pos, false, true
}

// CountLines is SplitLines for a caller that needs no record bounds (its
// records pass through unchanged, as one run of bytes): it reports how many
// complete lines buf[from:] holds and next, where the unfinished line after
// them begins, so that buf[from:next] is those lines with their newlines.
// It does so only where Split would hand every line over as it is: a Plain
// Splitter, not discarding an oversized line, and buf[from:] no longer
// than MaxBytes (so no line in it, finished or not, is too large). ok false
// says it did nothing: the caller then uses SplitLines.
func (s *Splitter) CountLines(buf []byte, from int) (n, next int, ok bool) {
	if s.skipping || !s.Plain() || len(buf)-from > s.opt.MaxBytes {
		return 0, from, false
	}
	clean := min(s.clean, len(buf)-from)
	last := bytes.LastIndexByte(buf[from+clean:], '\n')
	if last < 0 {
		s.scanned += int64(len(buf) - from - clean)
		s.clean = len(buf) - from
		return 0, from, true
	}
	next = from + clean + last + 1
	s.scanned += int64(len(buf) - from - clean)
	s.clean = len(buf) - next
	return bytes.Count(buf[from+clean:next], newline), next, true
}

var newline = []byte{'\n'}

// CountLinesMax counts the complete lines at the front of buf (each ended
// by a newline) that are at most max bytes long, newline not counted, as
// Split hands them over: n lines, buf[:next] holds them with their
// newlines. It stops at the first line longer than max, or at the
// unfinished line after the last newline: buf[next:] begins with it. So
// len(buf)-next > max says the line at next is too large (Split has an
// error to report or a line to discard there); otherwise buf[next:] is the
// unfinished last line. buf must begin at the start of a line.
//
// It looks at each byte about once: a newline search backwards from max+1
// bytes on, then bytes.Count up to the newline found (no per-line call).
func CountLinesMax(buf []byte, max int) (n, next int) {
	for next < len(buf) {
		seg := buf[next:min(len(buf), next+max+1)]
		last := bytes.LastIndexByte(seg, '\n')
		if last < 0 {
			break // a line over max, or the unfinished last one
		}
		n += bytes.Count(seg[:last+1], newline)
		next += last + 1
	}
	return n, next
}

// Finish handles the end of the stream: buf[from:] is the last line,
// without a newline (it may be empty).
func (s *Splitter) Finish(buf []byte, from int, rec func(start, end int), bad func(*RecordError)) {
	s.clean = 0
	if s.skipping {
		s.skipSize += int64(len(buf) - from)
		bad(&RecordError{Err: ErrTooLarge, Data: s.prefix, Size: s.skipSize})
		s.skipping, s.prefix = false, nil
		return
	}
	if from < len(buf) {
		s.record(buf, from, len(buf), rec, bad)
	}
}

// record checks the line buf[start:end] and hands it to rec or bad; it
// reports whether it called rec.
func (s *Splitter) record(buf []byte, start, end int, rec func(start, end int), bad func(*RecordError)) bool {
	if end-start > s.opt.MaxBytes {
		bad(&RecordError{Err: ErrTooLarge, Data: append([]byte(nil), buf[start:start+min(KeepPrefix, end-start)]...), Size: int64(end - start)})
		return false
	}
	if s.opt.Codec != NDJSON && !s.opt.RejectNUL && !s.opt.ValidateUTF8 {
		rec(start, end) // lines without checks: the common case
		return true
	}
	if s.opt.Codec == NDJSON {
		lineEnd := end
		for end > start && isSpace(buf[end-1]) {
			end--
		}
		line := start // a rejected line is reported with its leading blanks
		for start < end && isSpace(buf[start]) {
			start++
		}
		if start == end {
			return false // blank lines carry no record
		}
		known, valid := s.checked(line, lineEnd)
		if !known {
			valid = ValidJSON(buf[start:end])
		}
		if !valid {
			bad(&RecordError{Err: ErrInvalidJSON, Data: buf[line:end], Size: int64(end - line)})
			return false
		}
	}
	line := buf[start:end]
	if s.opt.RejectNUL && bytes.IndexByte(line, 0) >= 0 {
		bad(&RecordError{Err: ErrNUL, Data: line, Size: int64(len(line))})
		return false
	}
	if s.opt.ValidateUTF8 && !validUTF8(line) {
		bad(&RecordError{Err: ErrInvalidUTF8, Data: line, Size: int64(len(line))})
		return false
	}
	rec(start, end)
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// SetOptions changes the limits and checks (not the codec) for the records
// framed from now on: a live reload of the input's settings.
func (s *Splitter) SetOptions(opt Options) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 20
	}
	s.opt = opt
}
