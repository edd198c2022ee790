package textfmt

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrUnterminatedQuote fails a CSV row whose quoted field is not closed
// (a row is one line: a quoted field cannot span lines).
var ErrUnterminatedQuote = errors.New("unterminated quoted field")

// SplitCSV splits one CSV row into its fields: it appends each field's
// text, unquoted, to buf and the field's bounds in buf (start, end pairs) to
// ends, and returns both. A field may be quoted with '"', a quote inside it
// doubled; with trim, white space before a field is ignored. A trailing
// '\r' (a CRLF line) is not part of the last field. A malformed row (an
// unterminated quote, text after a closing quote, a quote inside an
// unquoted field) is an error naming the field and byte.
func SplitCSV(buf []byte, ends []int, row []byte, delim byte, trim bool) ([]byte, []int, error) {
	i := 0
	for {
		if trim {
			for i < len(row) && (row[i] == ' ' || row[i] == '\t') {
				i++
			}
		}
		start := len(buf)
		if i < len(row) && row[i] == '"' {
			open := i
			i++
			closed := false
			for i < len(row) {
				if row[i] == '"' {
					if i+1 < len(row) && row[i+1] == '"' {
						buf = append(buf, '"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				buf = append(buf, row[i])
				i++
			}
			if !closed {
				return buf, ends, fmt.Errorf("field %d (byte %d): %w", len(ends)/2+1, open+1, ErrUnterminatedQuote)
			}
			if i == len(row)-1 && row[i] == '\r' {
				i++ // a CRLF line's '\r' ends the row
			}
			if i < len(row) && row[i] != delim {
				return buf, ends, fmt.Errorf("field %d (byte %d): extraneous %q after a closing quote", len(ends)/2+1, i+1, row[i])
			}
		} else {
			j := i
			for j < len(row) && row[j] != delim {
				if row[j] == '"' {
					return buf, ends, fmt.Errorf("field %d (byte %d): bare quote in an unquoted field", len(ends)/2+1, j+1)
				}
				j++
			}
			f := row[i:j]
			if j == len(row) && len(f) > 0 && f[len(f)-1] == '\r' {
				f = f[:len(f)-1]
			}
			buf = append(buf, f...)
			i = j
		}
		ends = append(ends, start, len(buf))
		if i >= len(row) {
			return buf, ends, nil
		}
		i++ // the delimiter
	}
}

// AppendCSVField appends field to dst as one CSV field, quoted when it must
// be (it holds the delimiter, a quote, a line break, leading white space,
// or is empty and quoteEmpty is set).
func AppendCSVField(dst, field []byte, delim byte, quoteEmpty bool) []byte {
	if len(field) == 0 {
		if quoteEmpty {
			return append(dst, '"', '"')
		}
		return dst
	}
	if !needsCSVQuote(field, delim) {
		return append(dst, field...)
	}
	dst = append(dst, '"')
	for {
		q := bytes.IndexByte(field, '"')
		if q < 0 {
			break
		}
		dst = append(dst, field[:q+1]...)
		dst = append(dst, '"')
		field = field[q+1:]
	}
	dst = append(dst, field...)
	return append(dst, '"')
}

func needsCSVQuote(f []byte, delim byte) bool {
	if f[0] == ' ' || f[0] == '\t' {
		return true
	}
	for _, c := range f {
		if c == delim || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}
