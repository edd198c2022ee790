// Package codec splits byte streams into records (lines, ndjson, raw) and
// checks them. It knows nothing of pipelines.
package codec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Codec names.
const (
	Lines  = "lines"
	NDJSON = "ndjson"
	Raw    = "raw"
)

// Errors a Reader reports for one record; the stream goes on after them.
var (
	ErrTooLarge    = errors.New("record too large")
	ErrInvalidJSON = errors.New("malformed JSON")
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	ErrNUL         = errors.New("NUL byte in record")
)

// RecordError is a record the reader rejected. Data holds the record (for
// ErrTooLarge, its first bytes only). The reader may be called again.
type RecordError struct {
	Err  error
	Data []byte
	Size int64 // the record's full size in bytes
}

func (e *RecordError) Error() string {
	if e.Err == ErrTooLarge {
		return fmt.Sprintf("%v: %d bytes", e.Err, e.Size)
	}
	return e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Options configure a Reader.
type Options struct {
	Codec        string
	MaxBytes     int  // largest record accepted
	ValidateUTF8 bool // reject records with invalid UTF-8
	RejectNUL    bool // reject records containing NUL bytes
}

// KeepPrefix is how much of an oversized record a RecordError keeps.
const KeepPrefix = 1024

// Reader splits a stream into records.
type Reader struct {
	br   *bufio.Reader
	opt  Options
	long []byte
	done bool
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader, opt Options) *Reader {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 20
	}
	return &Reader{br: bufio.NewReaderSize(r, 256<<10), opt: opt}
}

// Buffered reports how many bytes can be read without blocking on the
// underlying reader; the pipeline flushes a partial batch when it is 0, so
// slow inputs stream record by record.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Next returns the next record. Its bytes are valid until the next call. At
// the end it returns io.EOF; a rejected record is a *RecordError; any other
// error is a read error.
func (r *Reader) Next() ([]byte, error) {
	if r.opt.Codec == Raw {
		return r.nextRaw()
	}
	for {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if r.opt.Codec == NDJSON {
			line = bytes.TrimRight(line, " \t\r")
			trimmed := bytes.TrimLeft(line, " \t\r")
			if len(trimmed) == 0 {
				continue // blank lines carry no record
			}
			if !ValidJSON(trimmed) {
				return nil, &RecordError{Err: ErrInvalidJSON, Data: line, Size: int64(len(line))}
			}
			line = trimmed
		}
		if e := r.check(line); e != nil {
			return nil, e
		}
		return line, nil
	}
}

func (r *Reader) check(rec []byte) error {
	if r.opt.RejectNUL && bytes.IndexByte(rec, 0) >= 0 {
		return &RecordError{Err: ErrNUL, Data: rec, Size: int64(len(rec))}
	}
	if r.opt.ValidateUTF8 && !validUTF8(rec) {
		return &RecordError{Err: ErrInvalidUTF8, Data: rec, Size: int64(len(rec))}
	}
	return nil
}

// line returns the next line without its newline.
func (r *Reader) line() ([]byte, error) {
	if r.done {
		return nil, io.EOF
	}
	b, err := r.br.ReadSlice('\n')
	if err == nil {
		if len(b)-1 > r.opt.MaxBytes {
			return nil, &RecordError{Err: ErrTooLarge, Data: b[:min(KeepPrefix, len(b)-1)], Size: int64(len(b) - 1)}
		}
		return b[:len(b)-1], nil
	}
	if err == bufio.ErrBufferFull {
		return r.longLine(b)
	}
	if err == io.EOF {
		r.done = true
		if len(b) == 0 {
			return nil, io.EOF
		}
		if len(b) > r.opt.MaxBytes {
			return nil, &RecordError{Err: ErrTooLarge, Data: b[:min(KeepPrefix, len(b))], Size: int64(len(b))}
		}
		return b, nil // last line without a trailing newline
	}
	return nil, err
}

// longLine gathers a line longer than the read buffer, up to MaxBytes;
// beyond that it skips to the end of the line and reports ErrTooLarge.
func (r *Reader) longLine(first []byte) ([]byte, error) {
	r.long = append(r.long[:0], first...)
	size := int64(len(first))
	for {
		b, err := r.br.ReadSlice('\n')
		end := len(b)
		if err == nil {
			end--
		}
		size += int64(end)
		if len(r.long) <= r.opt.MaxBytes {
			r.long = append(r.long, b[:end]...)
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil, io.EOF:
			if err == io.EOF {
				r.done = true
			}
			if size > int64(r.opt.MaxBytes) {
				keep := r.long[:min(len(r.long), KeepPrefix)]
				if cap(r.long) > 4<<20 {
					r.long = nil // do not keep a huge buffer around
				}
				return nil, &RecordError{Err: ErrTooLarge, Data: keep, Size: size}
			}
			return r.long, nil
		default:
			return nil, err
		}
	}
}

func (r *Reader) nextRaw() ([]byte, error) {
	if r.done {
		return nil, io.EOF
	}
	r.done = true
	buf := bytes.NewBuffer(r.long[:0])
	n, err := io.Copy(buf, io.LimitReader(r.br, int64(r.opt.MaxBytes)+1))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	if n > int64(r.opt.MaxBytes) {
		rest, err := io.Copy(io.Discard, r.br)
		if err != nil {
			return nil, err
		}
		return nil, &RecordError{Err: ErrTooLarge, Data: buf.Bytes()[:min(KeepPrefix, buf.Len())], Size: n + rest}
	}
	r.long = buf.Bytes()
	if e := r.check(r.long); e != nil {
		return nil, e
	}
	return r.long, nil
}

func validUTF8(b []byte) bool { return utf8.Valid(b) }
