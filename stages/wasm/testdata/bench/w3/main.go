// Command w3 is the W3 benchmark workload as a wasm guest: one record per
// element of tags, with tag set to it and tags removed.
//
// The output is that of sjson (sjson.DeleteBytes of tags, then
// sjson.SetBytes of tag per element, which slow does). Records of the
// common shape, an object whose last field is tags, an array of plain
// strings, take fast: one scan of the record and the outputs appended to
// one reused buffer, where slow scans the record three times and more and
// allocates a copy per output. Under Go's wasm backend, where allocation
// and garbage collection cost more than natively, that made W3 several
// times faster (bench/RESULTS.md, "What profiling changed").
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
		if out, ok := fast(rec); ok {
			return out, nil
		}
		return slow(rec)
	})
}

// buf and outs are reused from record to record: the SDK copies what the
// transform returns before it calls it again.
var (
	buf  []byte
	ends []int
	outs [][]byte
)

// fast handles a record `{...,"tags":[E1,...]}`: an object (no blanks
// around it) whose last field is tags, not its first, with no blank
// before the closing brace, no field tag, no other field tags and no key
// with an escape, and tags an array of strings without escapes or bytes
// that sjson quotes otherwise. Each output is then the record up to the
// comma before tags, `,"tag":`, the element as it is written, and `}`:
// what sjson makes of it. ok is false for any other record.
func fast(rec []byte) (out [][]byte, ok bool) {
	n := len(rec)
	if n < 2 || rec[0] != '{' || rec[n-1] != '}' {
		return nil, false
	}
	var tags, tagsKey gjson.Result
	ok = true
	gjson.Parse(unsafe.String(&rec[0], n)).ForEach(func(k, v gjson.Result) bool {
		switch {
		case strings.IndexByte(k.Raw, '\\') >= 0 || k.Raw == `"tag"` || (k.Raw == `"tags"` && tagsKey.Exists()):
			ok = false
		case k.Raw == `"tags"`:
			tags, tagsKey = v, k
		}
		return ok
	})
	if !ok || !tagsKey.Exists() || !tags.IsArray() || tags.Index+len(tags.Raw) != n-1 ||
		tagsKey.Index < 2 || rec[tagsKey.Index-1] != ',' {
		return nil, false
	}
	head := rec[:tagsKey.Index-1]
	buf, ends = buf[:0], ends[:0]
	tags.ForEach(func(_, e gjson.Result) bool {
		if e.Type != gjson.String || !plain(e.Raw) {
			ok = false
			return false
		}
		buf = append(buf, head...)
		buf = append(buf, `,"tag":`...)
		buf = append(buf, e.Raw...)
		buf = append(buf, '}')
		ends = append(ends, len(buf))
		return true
	})
	if !ok {
		return nil, false
	}
	outs = outs[:0]
	start := 0
	for _, e := range ends {
		outs = append(outs, buf[start:e])
		start = e
	}
	return outs, true
}

// plain reports whether the JSON string raw (with its quotes) holds only
// printable ASCII and no escape: sjson then writes its value as raw is.
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
	tags := gjson.GetBytes(rec, "tags")
	if !tags.IsArray() {
		return nil, nil
	}
	base, err := sjson.DeleteBytes(rec, "tags")
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, tag := range tags.Array() {
		b, err := sjson.SetBytes(append([]byte(nil), base...), "tag", tag.String())
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func main() {}
