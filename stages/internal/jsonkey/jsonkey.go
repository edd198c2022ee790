// Package jsonkey finds repeated keys in JSON objects.
//
// JSON allows an object to repeat a key, and parsers disagree on which
// value counts: gjson and sjson take the first, JavaScript's JSON.parse and
// Go's encoding/json the last. A stage that deleted or redacted one of
// them would let the other through, so pipe's rule is: a stage never
// chooses between repeated keys. When a key it reads, sets or deletes
// occurs more than once in its object, the record fails with an error
// (*Error, matching ErrDuplicate) under the stage's on_error. Native stages
// check the keys along their field paths (Path); a Lua or JS script may
// read any field, so its stage checks the whole record (Any).
package jsonkey

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// ErrDuplicate matches every *Error.
var ErrDuplicate = errors.New("duplicate key")

// Error reports a key that occurs more than once in one object.
type Error struct {
	Path string // where: the dotted path of the repeated key (gjson escapes)
}

func (e *Error) Error() string {
	return fmt.Sprintf("duplicate key %q in a JSON object: pipe does not choose between repeated keys", e.Path)
}

// Is reports whether target is ErrDuplicate.
func (e *Error) Is(target error) bool { return target == ErrDuplicate }

// Path returns an *Error if a key on path (a gjson dotted path: keys
// separated by '.', array indexes as numbers, '\' escaping the next
// character) occurs more than once in its object; nil otherwise, also when
// the path does not exist. It costs two substring searches unless the
// record contains a backslash or a quoted path segment twice.
func Path(data []byte, path string) error {
	// The common case, a path without escapes in a record without a
	// backslash or a repeated quoted segment, allocates nothing: Path runs
	// per record and field, and splitting the path each time made the
	// garbage of 115 bytes a record that doubled aggregate's CPU time.
	if strings.IndexByte(path, '\\') < 0 && !maybeRepeatedPlain(data, path) {
		return nil
	}
	segs := splitPath(path)
	if !maybeRepeated(data, segs) {
		return nil
	}
	cur := gjson.ParseBytes(data)
	for i, s := range segs {
		switch {
		case cur.IsObject():
			n := 0
			var next gjson.Result
			cur.ForEach(func(k, v gjson.Result) bool {
				if k.Str == s.key {
					n++
					if n > 1 {
						return false
					}
					next = v
				}
				return true
			})
			if n > 1 {
				return &Error{Path: joinPath(segs[:i+1])}
			}
			cur = next
		case cur.IsArray():
			cur = cur.Get(s.raw)
		default:
			return nil
		}
		if !cur.Exists() {
			return nil
		}
	}
	return nil
}

type segment struct{ raw, key string } // as written, and unescaped

func splitPath(path string) []segment {
	var segs []segment
	var key strings.Builder
	start := 0
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '\\':
			if i+1 < len(path) {
				i++
				key.WriteByte(path[i])
			}
		case '.':
			segs = append(segs, segment{raw: path[start:i], key: key.String()})
			key.Reset()
			start = i + 1
		default:
			key.WriteByte(path[i])
		}
	}
	return append(segs, segment{raw: path[start:], key: key.String()})
}

func joinPath(segs []segment) string {
	raw := make([]string, len(segs))
	for i, s := range segs {
		raw[i] = s.raw
	}
	return strings.Join(raw, ".")
}

// maybeRepeatedPlain is maybeRepeated for a path without backslashes,
// whose segments are their keys, without splitting it.
func maybeRepeatedPlain(data []byte, path string) bool {
	if bytes.IndexByte(data, '\\') >= 0 {
		return true
	}
	var buf [64]byte
	for rest := path; ; {
		seg, more, found := strings.Cut(rest, ".")
		q := append(append(append(buf[:0], '"'), seg...), '"')
		if i := bytes.Index(data, q); i >= 0 && bytes.Contains(data[i+len(q):], q) {
			return true
		}
		if !found {
			return false
		}
		rest = more
	}
}

// maybeRepeated is the fast test: without a backslash (no escaped key) a
// repeated key shows its quoted text twice.
func maybeRepeated(data []byte, segs []segment) bool {
	if bytes.IndexByte(data, '\\') >= 0 {
		return true
	}
	var q []byte
	for _, s := range segs {
		q = append(append(append(q[:0], '"'), s.key...), '"')
		if i := bytes.Index(data, q); i >= 0 && bytes.Contains(data[i+len(q):], q) {
			return true
		}
	}
	return false
}

// Any returns an *Error for the first key that occurs twice in one object
// anywhere in data, nil if there is none. data need not be valid JSON: Any
// then finds what it can, and never fails otherwise. It runs in linear time
// and allocates for objects with many keys only.
func Any(data []byte) error {
	if bytes.Count(data, quote) < 4 { // two keys take four quotes
		return nil
	}
	var s scanner
	return s.scan(data)
}

var quote = []byte{'"'}

// smallObject is the key count up to which an object's keys are compared
// one by one; larger objects get a map.
const smallObject = 16

type objFrame struct {
	keyStart  int // this object's keys are keys[keyStart:]
	bufStart  int
	set       map[string]struct{}
	expectKey bool
}

type scanner struct {
	kinds []byte     // '{' or '[' per open level
	objs  []objFrame // one per open object
	keys  [][2]int   // key bounds in buf
	buf   []byte     // the open objects' keys, unescaped
}

func (s *scanner) scan(data []byte) error {
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			end, esc := stringEnd(data, i+1)
			if n := len(s.kinds); n > 0 && s.kinds[n-1] == '{' && s.objs[len(s.objs)-1].expectKey {
				o := &s.objs[len(s.objs)-1]
				o.expectKey = false
				raw := data[i+1 : min(end, len(data))]
				if esc {
					raw = []byte(gjson.ParseBytes(data[i:min(end+1, len(data))]).Str)
				}
				if s.add(o, raw) {
					return &Error{Path: string(raw)}
				}
			}
			i = end
		case '{':
			s.kinds = append(s.kinds, '{')
			s.objs = append(s.objs, objFrame{keyStart: len(s.keys), bufStart: len(s.buf), expectKey: true})
		case '[':
			s.kinds = append(s.kinds, '[')
		case '}', ']':
			if n := len(s.kinds); n > 0 {
				if s.kinds[n-1] == '{' {
					o := s.objs[len(s.objs)-1]
					s.keys, s.buf = s.keys[:o.keyStart], s.buf[:o.bufStart]
					s.objs = s.objs[:len(s.objs)-1]
				}
				s.kinds = s.kinds[:n-1]
			}
		case ',':
			if n := len(s.kinds); n > 0 && s.kinds[n-1] == '{' {
				s.objs[len(s.objs)-1].expectKey = true
			}
		}
	}
	return nil
}

// add adds key to object o and reports whether o already had it.
func (s *scanner) add(o *objFrame, key []byte) bool {
	if o.set != nil {
		if _, ok := o.set[string(key)]; ok {
			return true
		}
		o.set[string(key)] = struct{}{}
		return false
	}
	for _, k := range s.keys[o.keyStart:] {
		if bytes.Equal(s.buf[k[0]:k[1]], key) {
			return true
		}
	}
	start := len(s.buf)
	s.buf = append(s.buf, key...)
	s.keys = append(s.keys, [2]int{start, len(s.buf)})
	if len(s.keys)-o.keyStart > smallObject {
		o.set = make(map[string]struct{}, 2*smallObject)
		for _, k := range s.keys[o.keyStart:] {
			o.set[string(s.buf[k[0]:k[1]])] = struct{}{}
		}
	}
	return false
}

// stringEnd returns the index of the quote that ends the string whose
// contents start at i (len(data) if none), and whether it has escapes.
func stringEnd(data []byte, i int) (int, bool) {
	esc := false
	for ; i < len(data); i++ {
		switch data[i] {
		case '"':
			return i, esc
		case '\\':
			esc = true
			i++
		}
	}
	return len(data), esc
}
