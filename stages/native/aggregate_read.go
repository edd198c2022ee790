package native

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
)

// topFields reads the fields an aggregate needs from a JSON object record
// in one pass, when each of their paths is one plain key (letters, digits,
// '_' and '-'): W5's time_field, group_by and aggregate fields all are.
// Reading them with field (gjson.GetBytes and jsonkey.Path per path) walks
// the record twice per path; here each key of the object is compared once.
// The values are those gjson.GetBytes returns, and a key that occurs twice
// in the object is the *jsonkey.Error jsonkey.Path returns; a record scan
// declines (an escaped key, not an object, JSON it does not understand)
// makes the caller take the general path, so results never differ.
type topFields struct {
	keys  []string       // the wanted keys, unique
	vals  []gjson.Result // per key: its value in the last scanned record; Str and Raw view that record
	count []int          // per key: how often the record has it
}

// plainKey reports whether path is one object key that gjson reads as
// written.
func plainKey(path string) bool {
	if path == "" {
		return false
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newTopFields returns a reader of paths, or nil when one of them is not a
// plain key.
func newTopFields(paths []string) *topFields {
	t := &topFields{}
	for _, p := range paths {
		if !plainKey(p) {
			return nil
		}
		if t.index(p) < 0 {
			t.keys = append(t.keys, p)
		}
	}
	t.vals = make([]gjson.Result, len(t.keys))
	t.count = make([]int, len(t.keys))
	return t
}

func (t *topFields) index(key string) int {
	for i, k := range t.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// get returns the value of path (one of the keys), as field does.
func (t *topFields) get(path string) (gjson.Result, error) {
	i := t.index(path)
	if t.count[i] > 1 {
		return gjson.Result{}, &jsonkey.Error{Path: path}
	}
	return t.vals[i], nil
}

// isJSONSpace reports JSON's white space.
func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scan reads data's top-level keys. It returns false when data is not an
// object as field would see it, or is JSON the scan does not take (then
// nothing it set may be used).
func (t *topFields) scan(data []byte) bool {
	clear(t.vals)
	clear(t.count)
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r') { // as field
		i++
	}
	if i == len(data) || data[i] != '{' {
		return false
	}
	i++
	for {
		for i < len(data) && isJSONSpace(data[i]) {
			i++
		}
		if i == len(data) {
			return false
		}
		if data[i] == '}' {
			return onlySpace(data[i+1:])
		}
		if data[i] != '"' {
			return false
		}
		k0 := i + 1
		i = k0
		for i < len(data) && data[i] != '"' && data[i] != '\\' {
			i++
		}
		if i == len(data) || data[i] == '\\' {
			return false // gjson unescapes keys: leave those to it
		}
		key := data[k0:i]
		i++
		for i < len(data) && isJSONSpace(data[i]) {
			i++
		}
		if i == len(data) || data[i] != ':' {
			return false
		}
		i++
		for i < len(data) && isJSONSpace(data[i]) {
			i++
		}
		if i == len(data) {
			return false
		}
		v0 := i
		var typ gjson.Type
		esc := false
		switch c := data[i]; {
		case c == '"':
			if i, esc = stringEndAt(data, i+1); i < 0 {
				return false
			}
			i++
			typ = gjson.String
		case c == '{' || c == '[':
			if i = skipNested(data, i); i < 0 {
				return false
			}
			typ = gjson.JSON
		case c == 't' || c == 'f' || c == 'n':
			lit, tt := "null", gjson.Null
			switch c {
			case 't':
				lit, tt = "true", gjson.True
			case 'f':
				lit, tt = "false", gjson.False
			}
			if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
				return false
			}
			i += len(lit)
			typ = tt
		case c == '-' || '0' <= c && c <= '9':
			for i < len(data) && (data[i] >= '0' && data[i] <= '9' || data[i] == '-' || data[i] == '+' || data[i] == '.' || data[i] == 'e' || data[i] == 'E') {
				i++
			}
			if !isJSONNumber(data[v0:i]) {
				return false
			}
			typ = gjson.Number
		default:
			return false
		}
		if j := t.indexBytes(key); j >= 0 {
			t.count[j]++
			if t.count[j] == 1 {
				raw := unsafe.String(unsafe.SliceData(data[v0:]), i-v0)
				v := gjson.Result{Type: typ, Raw: raw}
				switch typ {
				case gjson.String:
					if esc {
						v.Str = gjson.Parse(raw).Str
					} else {
						v.Str = raw[1 : len(raw)-1]
					}
				case gjson.Number:
					v.Num, _ = strconv.ParseFloat(raw, 64)
				}
				t.vals[j] = v
			}
		}
		for i < len(data) && isJSONSpace(data[i]) {
			i++
		}
		if i == len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i++
		case '}':
			return onlySpace(data[i+1:])
		default:
			return false
		}
	}
}

// onlySpace reports whether b is JSON white space only (text after the
// object makes the record invalid JSON: the general path decides).
func onlySpace(b []byte) bool {
	for _, c := range b {
		if !isJSONSpace(c) {
			return false
		}
	}
	return true
}

func (t *topFields) indexBytes(key []byte) int {
	for i, k := range t.keys {
		if k == string(key) {
			return i
		}
	}
	return -1
}

// stringEndAt returns the index of the quote that ends the JSON string
// whose contents start at i (-1 if none, or a control byte) and whether
// it has escapes.
func stringEndAt(data []byte, i int) (int, bool) {
	esc := false
	for {
		if i = plainRun(data, i); i >= len(data) {
			return -1, false
		}
		switch c := data[i]; {
		case c == '"':
			return i, esc
		case c == '\\':
			esc = true
			i += 2
		case c < 0x20:
			return -1, false
		default: // from 0x80 up: part of the string
			i++
		}
	}
}

// skipNested returns the index after the object or array starting at
// data[i], or -1.
func skipNested(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch data[i] {
		case '"':
			var ok bool
			if i, ok = stringEndAt(data, i+1); i < 0 {
				return -1
			}
			_ = ok
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// parseRFC3339Fast reads the common RFC 3339 form
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm) (1 to 9 fraction digits, fields
// in range) as ns since the epoch and its year; ok is false for anything
// else, which time.Parse then decides. For the texts it takes, the result
// is time.Parse(time.RFC3339Nano, text)'s.
func parseRFC3339Fast(b []byte) (ns int64, year int, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > daysIn(time.Month(mo), y) || h > 23 || mi > 59 || s > 59 {
		return 0, 0, false
	}
	i := 19
	frac := 0
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		digits := j - i - 1
		if digits < 1 || digits > 9 {
			return 0, 0, false
		}
		frac, _ = num(b[i+1 : j])
		for range 9 - digits {
			frac *= 10
		}
		i = j
	}
	off := 0
	switch {
	case i == len(b)-1 && b[i] == 'Z':
	case i == len(b)-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, okh := num(b[i+1 : i+3])
		om, okm := num(b[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, 0, false
		}
		off = (oh*60 + om) * 60
		if b[i] == '-' {
			off = -off
		}
	default:
		return 0, 0, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, frac, time.UTC)
	return t.Unix()*1e9 - int64(off)*1e9 + int64(frac), y, true
}

// daysIn returns the days of month m in year y.
func daysIn(m time.Month, y int) int {
	if m == time.February {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + int((m+m/8)%2)
}
