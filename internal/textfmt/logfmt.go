package textfmt

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrUnterminatedValue fails a logfmt line whose quoted value is not closed.
var ErrUnterminatedValue = errors.New("unterminated quoted value")

// ScanLogfmt reads the key=value pairs of one logfmt line, in order, and
// calls pair for each: bare is set for a key without '=' (a flag), and val
// is then empty; `key=` gives an empty val. A value may be double-quoted,
// with the escapes \" \\ \n \r \t and \uXXXX; a quoted value is unquoted
// into buf (returned, for reuse), so key and val are valid only during the
// call. Pairs are separated by white space. An unterminated quote, text
// right after a closing quote, '=' without a key or a quote in a key is an
// error naming the byte.
func ScanLogfmt(buf, line []byte, pair func(key, val []byte, bare bool)) ([]byte, error) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return buf, nil
		}
		k0 := i
		for i < len(line) && line[i] != '=' && !isSpace(line[i]) {
			if line[i] == '"' {
				return buf, fmt.Errorf("byte %d: quote in a logfmt key", i+1)
			}
			i++
		}
		key := line[k0:i]
		if len(key) == 0 {
			return buf, fmt.Errorf("byte %d: a pair without a key", k0+1)
		}
		if i >= len(line) || line[i] != '=' {
			pair(key, nil, true)
			continue
		}
		i++ // '='
		if i < len(line) && line[i] == '"' {
			open := i
			buf = buf[:0]
			i++
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c != '\\' {
					buf = append(buf, c)
					i++
					continue
				}
				if i+1 >= len(line) {
					break
				}
				switch e := line[i+1]; e {
				case '"', '\\', '/':
					buf = append(buf, e)
				case 'n':
					buf = append(buf, '\n')
				case 'r':
					buf = append(buf, '\r')
				case 't':
					buf = append(buf, '\t')
				case 'u':
					r, ok := hex4(line[i+2:])
					if !ok {
						return buf, fmt.Errorf("byte %d: bad \\u escape", i+1)
					}
					buf = utf8.AppendRune(buf, r)
					i += 4
				default:
					buf = append(buf, '\\', e) // kept as written
				}
				i += 2
			}
			if !closed {
				return buf, fmt.Errorf("byte %d: %w", open+1, ErrUnterminatedValue)
			}
			if i < len(line) && !isSpace(line[i]) {
				return buf, fmt.Errorf("byte %d: text after a closing quote", i+1)
			}
			pair(key, buf, false)
			continue
		}
		v0 := i
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		pair(key, line[v0:i], false)
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// ValidLogfmtKey reports whether key can be written as a logfmt key: not
// empty, without white space, '=', '"' or control bytes.
func ValidLogfmtKey(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	for _, c := range key {
		if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// AppendLogfmtValue appends val as a logfmt value: as it is when it needs
// no quotes, else double-quoted with \" \\ \n \r \t and \u00XX escapes.
// An empty value is written as nothing (key=).
func AppendLogfmtValue(dst, val []byte) []byte {
	quote := false
	for _, c := range val {
		if c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f {
			quote = true
			break
		}
	}
	if !quote {
		return append(dst, val...)
	}
	dst = append(dst, '"')
	for _, c := range val {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < ' ' || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
