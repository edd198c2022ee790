// Command w1 is the W1 benchmark workload as a wasm guest: keep records
// with level "error", upper-case msg, add "processed": true.
//
// The output is that of sjson (sjson.SetBytes of msg, then of processed,
// which slow does). Records of the common shape, an object whose msg is
// a string of printable ASCII without escapes and without a processed
// field, take fast: the record is copied once into a reused buffer with
// msg upper-cased in place and the field appended, where slow scans it
// twice more and allocates two copies and the upper-cased string. Under
// Go's wasm backend allocation and garbage collection cost more than
// natively (bench/RESULTS.md, "What profiling changed").
package main

import (
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

func init() {
	guest.Transform(func(rec []byte, _ guest.Meta) ([][]byte, error) {
		if len(rec) == 0 {
			return nil, nil // no level: dropped
		}
		s := unsafe.String(&rec[0], len(rec)) // read only during the call
		if gjson.Get(s, "level").String() != "error" {
			return nil, nil // drop
		}
		if out, ok := fast(rec, s); ok {
			return out, nil
		}
		return slow(rec)
	})
}

// buf and out are reused from record to record: the SDK copies what the
// transform returns before it calls it again.
var (
	buf []byte
	out = make([][]byte, 1)
)

// fast handles a record `{...}` (no blanks around it) whose msg is a plain
// string (see plain) and that has no field processed. The output is then
// the record with the bytes of msg upper-cased and `,"processed":true`
// before the closing brace (no comma in an empty object): what sjson makes
// of it. ok is false for any other record.
func fast(rec []byte, s string) (_ [][]byte, ok bool) {
	n := len(rec)
	if n < 2 || rec[0] != '{' || rec[n-1] != '}' {
		return nil, false
	}
	msg := gjson.Get(s, "msg")
	if msg.Type != gjson.String || msg.Index <= 0 || !plain(msg.Raw) || gjson.Get(s, "processed").Exists() {
		return nil, false
	}
	end := msg.Index + len(msg.Raw)
	buf = append(buf[:0], rec[:msg.Index]...)
	for i := msg.Index; i < end; i++ {
		c := rec[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	buf = append(buf, rec[end:n-1]...)
	if strings.TrimLeft(s[1:], " \t\r\n")[0] != '}' {
		buf = append(buf, ',')
	}
	buf = append(buf, `"processed":true}`...)
	out[0] = buf
	return out, true
}

// plain reports whether the JSON string raw (with its quotes) holds only
// printable ASCII and no escape: sjson then writes the upper-cased value
// as raw is, upper-cased.
func plain(raw string) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for i := 1; i < len(raw)-1; i++ {
		if c := raw[i]; c < ' ' || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// slow is the workload through sjson, for every record.
func slow(rec []byte) ([][]byte, error) {
	if gjson.GetBytes(rec, "level").String() != "error" {
		return nil, nil
	}
	msg := gjson.GetBytes(rec, "msg").String()
	data, err := sjson.SetBytes(rec, "msg", strings.ToUpper(msg))
	if err != nil {
		return nil, err
	}
	if data, err = sjson.SetBytes(data, "processed", true); err != nil {
		return nil, err
	}
	return [][]byte{data}, nil
}

func main() {}
