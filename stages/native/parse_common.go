package native

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The parsing stages (parse_regex, parse_logfmt, parse_kv, parse_csv,
// parse_syslog, parse_json, parse_time, grok) share this file: where the
// text comes from (the line, or a JSON string field), where the result goes
// (a new object, merged into the record or under target:), the conversions
// of types: and the JSON they write.

// ErrNoMatch fails a record that a parse_regex or grok pattern does not
// match.
var ErrNoMatch = errors.New("no match")

// parseIO are the options every parsing stage has: where its text comes
// from and where the parsed fields go.
type parseIO struct {
	Field       string `yaml:"field" example:"message" doc:"Parse this JSON string field of an NDJSON record instead of the whole record (the line); the parsed fields are merged into the record."`
	Target      string `yaml:"target" example:"parsed" doc:"Put the parsed object under this key (a dotted path) instead of at the top level."`
	Original    string `yaml:"original" example:"message" doc:"Without field: also keep the input line in this field of the output."`
	RemoveField bool   `yaml:"remove_field" default:"false" doc:"With field: remove the parsed field from the record (unless target: is that field)."`
}

// parseTypes is the types: option of the stages that produce text fields.
type parseTypes struct {
	Types map[string]string `yaml:"types" example:"{status: int, latency: float, cached: bool}" doc:"Convert fields from text: int, float, bool or string (the default). An empty value of a converted field becomes null; a value that does not convert fails the record."`
}

// check validates the options.
func (o parseIO) check(cfg engine.Config) error {
	if o.Field != "" {
		if err := checkPath(cfg, "field", o.Field); err != nil {
			return err
		}
		if o.Original != "" {
			return cfg.Errorf("original", "original: keeps the input line; with field: the record keeps the field (see remove_field:)")
		}
	} else if o.RemoveField {
		return cfg.Errorf("remove_field", "remove_field: needs field:")
	}
	if o.Target != "" {
		if err := checkPath(cfg, "target", o.Target); err != nil {
			return err
		}
	}
	return nil
}

// valueType is a conversion of types:.
type valueType uint8

const (
	typeString valueType = iota
	typeInt
	typeFloat
	typeBool
)

var typeNames = map[string]valueType{"string": typeString, "int": typeInt, "float": typeFloat, "bool": typeBool,
	// grok's names (Logstash, Elastic's go-grok) for the same conversions
	"long": typeInt, "double": typeFloat, "boolean": typeBool}

// typeSet is the conversions of a stage by field name.
type typeSet struct {
	m    map[string]valueType
	lens uint64 // bit n is set when a name has n bytes (mod 64): most keys skip the map
}

func (ts *typeSet) set(name string, t valueType) {
	if ts.m == nil {
		ts.m = map[string]valueType{}
	}
	ts.m[name] = t
	ts.lens |= 1 << (len(name) % 64)
}

func (ts *typeSet) lookup(name []byte) (valueType, bool) {
	if ts == nil || ts.lens&(1<<(len(name)%64)) == 0 {
		return 0, false
	}
	t, ok := ts.m[string(name)]
	return t, ok
}

// compileTypes compiles types: (known, if not nil, lists the fields a
// parser can produce, so that a typo is a config error).
func compileTypes(cfg engine.Config, types map[string]string, known func(string) bool) (*typeSet, error) {
	if len(types) == 0 {
		return nil, nil
	}
	out := &typeSet{}
	for k, v := range types {
		t, ok := typeNames[v]
		if !ok || v == "long" || v == "double" || v == "boolean" {
			return nil, cfg.Errorf("types", "types: field %q: type must be int, float, bool or string, got %q", k, v)
		}
		if known != nil && !known(k) {
			return nil, cfg.Errorf("types", "types: field %q is not one the stage produces", k)
		}
		out.set(k, t)
	}
	return out, nil
}

// pfield is one parsed field: its key and value are ranges of parsed.buf.
type pfield struct {
	k0, k1, v0, v1 int
	kind           valueType // conversion of a text value
	raw            bool      // the value is JSON already
	skip           bool      // replaced by a later field of the same key
}

// parsed collects the fields one record parses into, in order. An instance
// reuses one for every record.
type parsed struct {
	buf []byte
	fs  []pfield
}

func (p *parsed) reset() {
	p.buf = p.buf[:0]
	p.fs = p.fs[:0]
}

// key starts a field named k and returns its index; its value follows.
func (p *parsed) key(k []byte) int {
	k0 := len(p.buf)
	p.buf = append(p.buf, k...)
	p.fs = append(p.fs, pfield{k0: k0, k1: len(p.buf)})
	return len(p.fs) - 1
}

// keyString is key for a string.
func (p *parsed) keyString(k string) int {
	k0 := len(p.buf)
	p.buf = append(p.buf, k...)
	p.fs = append(p.fs, pfield{k0: k0, k1: len(p.buf)})
	return len(p.fs) - 1
}

// value sets field i's text value to v.
func (p *parsed) value(i int, v []byte) {
	f := &p.fs[i]
	f.v0 = len(p.buf)
	p.buf = append(p.buf, v...)
	f.v1 = len(p.buf)
}

// addString adds a text field.
func (p *parsed) addString(k string, v []byte) { p.value(p.keyString(k), v) }

// addRaw adds a field whose value v is JSON text.
func (p *parsed) addRaw(k string, v []byte) {
	i := p.keyString(k)
	p.value(i, v)
	p.fs[i].raw = true
}

func (p *parsed) keyOf(f *pfield) []byte { return p.buf[f.k0:f.k1] }
func (p *parsed) valOf(f *pfield) []byte { return p.buf[f.v0:f.v1] }

// dedupe keeps one field per key: the last value, at the first position.
func (p *parsed) dedupe() {
	fs := p.fs
	for i := 1; i < len(fs); i++ {
		k := p.buf[fs[i].k0:fs[i].k1]
		for j := range i {
			if !fs[j].skip && bytes.Equal(p.buf[fs[j].k0:fs[j].k1], k) {
				fs[j].v0, fs[j].v1, fs[j].raw, fs[j].kind = fs[i].v0, fs[i].v1, fs[i].raw, fs[i].kind
				fs[i].skip = true
				break
			}
		}
	}
}

// render appends the fields as one JSON object to dst, converting the
// values types: names. With nest, dotted keys make nested objects.
func (p *parsed) render(dst []byte, types *typeSet, nest bool) ([]byte, error) {
	if types != nil {
		for i := range p.fs {
			f := &p.fs[i]
			if t, ok := types.lookup(p.keyOf(f)); ok && !f.raw {
				f.kind = t
			}
		}
	}
	if nest {
		return p.renderNested(dst, 0, len(p.fs), 0)
	}
	dst = append(dst, '{')
	first := true
	for i := range p.fs {
		f := &p.fs[i]
		if f.skip {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, p.keyOf(f))
		dst = append(dst, ':')
		var err error
		if dst, err = p.appendValue(dst, f); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// renderNested renders fields [lo, hi) whose keys share a prefix of depth
// segments as one object. Keys are dotted paths; their order is the order
// in which each object first appears.
func (p *parsed) renderNested(dst []byte, lo, hi, depth int) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for i := lo; i < hi; i++ {
		f := &p.fs[i]
		if f.skip {
			continue
		}
		seg, rest := pathSegment(p.keyOf(f), depth)
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, seg)
		dst = append(dst, ':')
		if !rest {
			var err error
			if dst, err = p.appendValue(dst, f); err != nil {
				return dst, err
			}
			continue
		}
		// Gather the later fields under the same segment: they must be
		// adjacent for the recursive call, so move them up (stable).
		end := i + 1
		for j := i + 1; j < hi; j++ {
			if g := &p.fs[j]; !g.skip {
				if s, r := pathSegment(p.keyOf(g), depth); r && bytes.Equal(s, seg) {
					moved := p.fs[j]
					copy(p.fs[end+1:j+1], p.fs[end:j])
					p.fs[end] = moved
					end++
				}
			}
		}
		var err error
		if dst, err = p.renderNested(dst, i, end, depth+1); err != nil {
			return dst, err
		}
		for j := i; j < end; j++ {
			p.fs[j].skip = true
		}
		i = end - 1
	}
	return append(dst, '}'), nil
}

// pathSegment returns segment depth of dotted key k and whether more
// segments follow.
func pathSegment(k []byte, depth int) ([]byte, bool) {
	for range depth {
		i := bytes.IndexByte(k, '.')
		if i < 0 {
			return k, false
		}
		k = k[i+1:]
	}
	if i := bytes.IndexByte(k, '.'); i >= 0 {
		return k[:i], true
	}
	return k, false
}

// appendValue appends f's value as JSON, converted to its type.
func (p *parsed) appendValue(dst []byte, f *pfield) ([]byte, error) {
	v := p.valOf(f)
	if f.raw {
		return append(dst, v...), nil
	}
	return appendTyped(dst, p.keyOf(f), v, f.kind)
}

// appendTyped appends text value v of field key as JSON, converted to
// kind.
func appendTyped[K []byte | string](dst []byte, key K, v []byte, kind valueType) ([]byte, error) {
	if kind != typeString && len(v) == 0 {
		return append(dst, "null"...), nil
	}
	switch kind {
	case typeInt:
		out, ok := appendInt(dst, v)
		if !ok {
			return dst, fmt.Errorf("field %q: %q is not an int", key, v)
		}
		return out, nil
	case typeFloat:
		out, ok := appendFloat(dst, v)
		if !ok {
			return dst, fmt.Errorf("field %q: %q is not a float", key, v)
		}
		return out, nil
	case typeBool:
		switch string(v) {
		case "1", "t", "T", "TRUE", "true", "True":
			return append(dst, "true"...), nil
		case "0", "f", "F", "FALSE", "false", "False":
			return append(dst, "false"...), nil
		}
		return dst, fmt.Errorf("field %q: %q is not a bool", key, v)
	}
	return appendJSONString(dst, v), nil
}

// appendInt appends decimal integer text v (an optional sign, digits) as a
// JSON integer in int64's range.
func appendInt(dst, v []byte) ([]byte, bool) {
	s := v
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return dst, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return dst, false
		}
	}
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	if len(s) >= 19 { // near or past int64's range: let strconv decide
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return dst, false
		}
		return strconv.AppendInt(dst, n, 10), true
	}
	if neg && !(len(s) == 1 && s[0] == '0') {
		dst = append(dst, '-')
	}
	return append(dst, s...), true
}

// appendFloat appends number text v as a JSON number: as it is when it is
// a JSON number already (in float64's range), otherwise as strconv reads
// it (+1.5, .5, 1.).
func appendFloat(dst, v []byte) ([]byte, bool) {
	if ok, exp := jsonNumber(v); ok {
		if exp || len(v) > 300 { // may be out of float64's range
			if f, err := strconv.ParseFloat(string(v), 64); err != nil || math.IsInf(f, 0) {
				return dst, false
			}
		}
		return append(dst, v...), true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	return appendJSONFloat(dst, f), true
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// isJSONNumber reports whether v is a number in JSON's grammar.
func isJSONNumber(v []byte) bool {
	ok, _ := jsonNumber(v)
	return ok
}

// jsonNumber reports whether v is a number in JSON's grammar, and whether
// it has an exponent.
func jsonNumber(v []byte) (ok, exp bool) {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
	default:
		return false, false
	}
	if i < len(v) && v[i] == '.' {
		i++
		j := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == j {
			return false, false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		exp = true
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		j := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == j {
			return false, false
		}
	}
	return i == len(v), exp
}

const hexDigits = "0123456789abcdef"

// jsonPlain holds the bytes a JSON string takes as they are: printable
// ASCII but the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns the index of the first byte of s from i on that a JSON
// string cannot take as it is (jsonPlain), or len(s): eight bytes at a
// time, then one by one.
func plainRun[T []byte | string](s T, i int) int {
	for i+8 <= len(s) {
		if m := notPlain8(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	return i
}

// load64 returns the eight bytes of s from i on as a little-endian word
// (one load, one bounds check).
func load64[T []byte | string](s T, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// notPlain8 has the high bit set of each byte of w (little endian) that is
// '"', '\\', a control character or from 0x80 up; below the lowest such byte
// no bit is set (a subtraction's borrow only runs upwards), so
// TrailingZeros64/8 is the index of the first one.
func notPlain8(w uint64) uint64 {
	q := w ^ ('"' * swarOnes)
	b := w ^ ('\\' * swarOnes)
	return ((q-swarOnes)&^q | (b-swarOnes)&^b | (w-0x20*swarOnes)&^w | w) & swarHighs
}

// appendShort appends src[a:a+n] to dst. Up to 16 bytes are copied as
// two eight-byte words when src has 16 bytes from a on and dst 16 bytes
// free (instead of a call to memmove): the bytes past n are written into
// dst's free capacity, where the next append writes. Every dst a parser
// writes into is its own up to its capacity (lineParser).
func appendShort(dst, src []byte, a, n int) []byte {
	if d := len(dst); n <= 16 && a+16 <= len(src) && cap(dst)-d >= 16 {
		copy16(dst[d:d+16], src[a:a+16])
		return dst[:d+n]
	}
	return append(dst, src[a:a+n]...)
}

// copy16 copies s[:16] to w[:16] as two eight-byte words.
func copy16(w, s []byte) {
	binary.LittleEndian.PutUint64(w[:8], binary.LittleEndian.Uint64(s[:8]))
	binary.LittleEndian.PutUint64(w[8:16], binary.LittleEndian.Uint64(s[8:16]))
}

// padded returns b followed by 16 zero bytes, for appendShort.
func padded(b []byte) []byte { return append(b, make([]byte, 16)...) }

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, so the output is always valid JSON.
func appendJSONString[T []byte | string](dst []byte, s T) []byte {
	return append(appendJSONBody(append(dst, '"'), s), '"')
}

// appendJSONBody is appendJSONString without the quotes.
func appendJSONBody[T []byte | string](dst []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); {
		i = plainRun(s, i)
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = appendEscapedASCII(append(dst, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// lineParser turns one text into a JSON value: an object, or any value
// when the stage has a target:. It appends the value to dst; an error
// fails the record. Instances are not shared between workers. dst's
// capacity past its length is free: a parser may write there beyond what
// it returns (appendShort).
type lineParser interface {
	parseLine(dst, text []byte) ([]byte, error)
}

// parseStage is a parsing stage: it reads the text (the record, or a JSON
// string field), has its parser turn it into JSON and writes the output
// record. Its buffers are reused from record to record; each output record
// gets one allocation of its own.
type parseStage struct {
	io   parseIO
	p    lineParser
	src  []byte
	obj  []byte
	out  []byte
	keys []string // the parsed object's top-level keys, when merging
	vals []string
	used []bool
	slab []byte // where output records are cut from (keep) without an arena
	// arena is the batch's output arena while the engine lends it
	// (engine.OutputArena), else nil: output records are written there.
	arena *[]byte
	// lastOut is how many bytes the last batch's records took (with their
	// newlines): the size of a new arena block.
	lastOut int
	outs    [][]byte // TransformBatch: the output data by record
	errs    []error  // TransformBatch: the errors by record, up to the last one
}

func newParseStage(o parseIO, p lineParser) *parseStage {
	return &parseStage{io: o, p: p}
}

var errNotObjectRecord = errors.New("record is not a JSON object: the parsed fields cannot be merged into it (give target:)")

var errNotObject = errors.New("parsed value is not a JSON object (give target: to keep it under a key)")

// Transform implements engine.Transformer.
func (s *parseStage) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := s.transform(r)
	if err != nil {
		return err
	}
	r.Data = data
	emit(r)
	return nil
}

// batchCheck is how many records TransformBatch parses between two looks
// at its context.
const batchCheck = 64

// TransformBatch implements engine.BatchTransformer: the records of a
// batch in one call (one timeout and one hand-off per batch instead of per
// record). Records are changed only once the whole call succeeded, so a
// batch that its context cut short is re-run by the engine from the
// original records.
func (s *parseStage) TransformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult) error {
	return s.transformBatch(ctx, recs, out, s.transform)
}

// transformBatch runs f, which returns a record's output data without
// changing it (nil and no error: the record is dropped), over recs. The
// outcomes are reported, and the records changed, once every record was
// done and ctx is still alive.
func (s *parseStage) transformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult, f func(*engine.Record) ([]byte, error)) error {
	outs, errs := s.outs[:0], s.errs[:0]
	defer func() {
		clear(outs)
		clear(errs)
		s.outs, s.errs = outs[:0], errs[:0]
	}()
	n := 0 // the bytes of the outputs, each with a newline
	for i, r := range recs {
		if i%batchCheck == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		data, err := f(r)
		if err != nil {
			for len(errs) < i {
				errs = append(errs, nil)
			}
			errs = append(errs, err)
			data = nil
		}
		outs = append(outs, data) // nil for a failed or dropped record
		n += len(data) + 1
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.lastOut = n
	for i, r := range recs {
		switch {
		case i < len(errs) && errs[i] != nil:
			out.Fail(i, errs[i])
		case outs[i] != nil:
			r.Data = outs[i]
			out.Emit(i, r)
		}
	}
	return nil
}

// transform returns record r's output data; it does not change r.
func (s *parseStage) transform(r *engine.Record) ([]byte, error) {
	text := r.Data
	if s.io.Field != "" {
		v, err := jsonField(r.Data, s.io.Field)
		if err != nil {
			return nil, err
		}
		switch {
		case !v.Exists():
			return nil, fmt.Errorf("field %q is missing", s.io.Field)
		case v.Type != gjson.String:
			return nil, fmt.Errorf("field %q is not a string (%s)", s.io.Field, v.Type)
		}
		s.src = append(s.src[:0], v.Str...)
		text = s.src
	}
	if s.io.Field == "" && s.io.Target == "" && s.io.Original == "" {
		// The object is the record: it is written straight into the
		// free end of the output block (keep) and cut from there.
		blk := s.block(slabMinFree)
		free := (*blk)[len(*blk):]
		obj, err := s.p.parseLine(free, text)
		if err != nil {
			return nil, err
		}
		if len(obj) == 0 || obj[0] != '{' {
			return nil, errNotObject
		}
		n := len(obj)
		if cap(obj) == cap(free) { // still in the block: keep it, and a newline after it
			if n < cap(obj) {
				obj = append(obj, '\n')
			}
			*blk = (*blk)[:len(*blk)+len(obj)]
		}
		return obj[:n:n], nil // else in a block of its own
	}
	obj, err := s.p.parseLine(s.obj[:0], text)
	s.obj = obj
	if err != nil {
		return nil, err
	}
	if s.io.Target == "" && (len(obj) == 0 || obj[0] != '{') {
		return nil, errNotObject
	}
	if s.io.Field == "" {
		out := s.out[:0]
		switch {
		case s.io.Target == "":
			out = append(out, '{')
			out = appendJSONString(out, s.io.Original)
			out = append(out, ':')
			out = appendJSONString(out, text)
			if inner := bytes.TrimSpace(obj[1 : len(obj)-1]); len(inner) > 0 {
				out = append(out, ',')
				out = append(out, inner...)
			}
			out = append(out, '}')
		default:
			out = append(out, '{')
			if s.io.Original != "" {
				out = appendJSONString(out, s.io.Original)
				out = append(out, ':')
				out = appendJSONString(out, text)
				out = append(out, ',')
			}
			out = appendNested(out, s.io.Target, obj)
			out = append(out, '}')
		}
		s.out = out
		return s.keep(out), nil
	}
	data := r.Data
	nested := strings.ContainsAny(s.io.Field, `.\`)
	if s.io.RemoveField && s.io.Field != s.io.Target && (nested || s.io.Target != "") {
		if data, err = sjson.DeleteBytes(data, s.io.Field); err != nil {
			return nil, err
		}
	}
	if s.io.Target != "" {
		if err = jsonkey.Path(data, s.io.Target); err != nil {
			return nil, err
		}
		return sjson.SetRawBytesOptions(data, s.io.Target, obj, nil)
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errNotObjectRecord
	}
	merged, err := s.merge(data, obj, s.io.RemoveField && !nested)
	if err != nil {
		return nil, err
	}
	return s.keep(merged), nil
}

// slabMinFree is the free space of an output block (slabSize) below which
// a parsed object is written into a new block (one that outgrows the space
// gets a block of its own).
const slabMinFree = 4 << 10

// keep returns a copy of out for an output record. Copies are cut from a
// shared block (one allocation per 64 KiB of output rather than one per
// record, or none: the batch's output arena); each has its capacity cut to
// its length, so an append to one never reaches the next, and is followed
// by a newline in the block (for the output's runs, see
// engine.OutputArena). A block of the stage's own is freed when its
// records are; the arena is reused with its batch.
func (s *parseStage) keep(out []byte) []byte {
	blk := s.block(len(out) + 1)
	s0 := len(*blk)
	*blk = append(append(*blk, out...), '\n')
	return (*blk)[s0 : len(*blk)-1 : len(*blk)-1]
}

// block returns the block output records are written into (the batch's
// output arena when the engine lends one, else the stage's slab), with at
// least n bytes free: a full one is replaced by a new, larger one (the
// records in it stay where they are).
func (s *parseStage) block(n int) *[]byte {
	blk := &s.slab
	if s.arena != nil {
		blk = s.arena
	}
	if c := cap(*blk); c-len(*blk) < n {
		size := slabSize
		if s.arena != nil {
			// The arena is reused for later batches: grow it to hold
			// what this batch writes so far twice over, or what the
			// last batch wrote, with room to spare.
			size = min(max(size, 2*c, s.lastOut+s.lastOut/4+slabMinFree), maxArenaBlock)
		}
		*blk = make([]byte, 0, max(size, n))
	}
	return blk
}

// maxArenaBlock is the largest block an output arena grows to at once.
const maxArenaBlock = 1 << 20

// UseArena implements engine.OutputArena.
func (s *parseStage) UseArena(a *[]byte) { s.arena = a }

// jsonField returns the value at path in record data, which must be valid
// JSON (a record from a lines input may not be: the output must be).
func jsonField(data []byte, path string) (gjson.Result, error) {
	v, err := field(data, path)
	if err == nil && !gjson.ValidBytes(data) {
		err = errInvalidRecord
	}
	return v, err
}

var errInvalidRecord = errors.New("record is not valid JSON (field: needs JSON records, codec: ndjson)")

// appendNested appends "a":{"b":obj} for the dotted path target.
func appendNested(dst []byte, target string, obj []byte) []byte {
	seg, rest, more := strings.Cut(target, ".")
	dst = appendJSONString(dst, seg)
	dst = append(dst, ':')
	if !more {
		return append(dst, obj...)
	}
	dst = append(dst, '{')
	dst = appendNested(dst, rest, obj)
	return append(dst, '}')
}

// merge writes record object data with the top-level keys of obj: a key
// the record has is replaced where it is, the others follow in obj's order.
// With drop, the record's top-level field s.io.Field is left out. A key of
// obj that the record has twice is a *jsonkey.Error (it would replace one).
func (s *parseStage) merge(data, obj []byte, drop bool) ([]byte, error) {
	s.keys, s.vals = s.keys[:0], s.vals[:0]
	gjson.ParseBytes(obj).ForEach(func(k, v gjson.Result) bool {
		s.keys = append(s.keys, k.Str)
		s.vals = append(s.vals, v.Raw)
		return true
	})
	used := s.used[:0]
	for range s.keys {
		used = append(used, false)
	}
	s.used = used
	out := append(s.out[:0], '{')
	first := true
	sep := func() {
		if !first {
			out = append(out, ',')
		}
		first = false
	}
	var dup error
	gjson.ParseBytes(data).ForEach(func(k, v gjson.Result) bool {
		if drop && k.Str == s.io.Field {
			return true
		}
		sep()
		for i, nk := range s.keys {
			if nk == k.Str && used[i] {
				dup = &jsonkey.Error{Path: k.Str}
				return false
			}
			if nk == k.Str {
				used[i] = true
				out = append(out, k.Raw...)
				out = append(out, ':')
				out = append(out, s.vals[i]...)
				return true
			}
		}
		out = append(out, k.Raw...)
		out = append(out, ':')
		out = append(out, v.Raw...)
		return true
	})
	for i, k := range s.keys {
		if !used[i] {
			sep()
			out = appendJSONString(out, k)
			out = append(out, ':')
			out = append(out, s.vals[i]...)
		}
	}
	s.out = append(out, '}')
	return s.out, dup
}

// fieldsParser is the part of a lineParser that produces text fields: it
// collects them, applies types: and writes the object.
type fieldsParser struct {
	p      parsed
	types  *typeSet
	nest   bool // dotted keys make nested objects (grok)
	dedupe bool // keys come from the data: one field per key, the last value
}

func (fp *fieldsParser) finish(dst []byte) ([]byte, error) {
	if fp.dedupe {
		fp.p.dedupe()
	}
	return fp.p.render(dst, fp.types, fp.nest)
}

var (
	_ engine.Transformer      = (*parseStage)(nil)
	_ engine.BatchTransformer = (*parseStage)(nil)
	_ engine.OutputArena      = (*parseStage)(nil)
)

// jsonBuilder is a lineParser that writes every value of its object
// itself (appendJSONString, appendTyped, literals), so that what it
// returns is one JSON value on one line whatever the text.
type jsonBuilder interface{ buildsJSON() }

func (*regexParser) buildsJSON() {}
func (*kvParser) buildsJSON()    {}

// JSONOutput implements engine.JSONOutput for the parsers that build their
// JSON (parse_regex, parse_logfmt, parse_kv): a parsed line is always JSON;
// merged into a JSON record (field:) it is JSON when the record was. The
// other parsers promise nothing and have their output checked.
func (s *parseStage) JSONOutput() engine.JSONGuarantee {
	if _, ok := s.p.(jsonBuilder); !ok {
		return engine.JSONUnchecked
	}
	if s.io.Field != "" {
		return engine.JSONPreserved
	}
	return engine.JSONAlways
}

var _ engine.JSONOutput = (*parseStage)(nil)
