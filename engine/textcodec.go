package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/pipe-dev/pipe/engine/internal/codec"
	"github.com/pipe-dev/pipe/internal/textfmt"
	"github.com/tidwall/gjson"
)

// The csv and logfmt codecs. On input, the stream is framed in lines (as
// under lines) and each line becomes one NDJSON record: a JSON object of
// string values. On output, each record (a JSON object) becomes one line.
// Stages between them see NDJSON records, as under the ndjson codec. The
// text formats themselves are package textfmt's, shared with the parse_csv
// and parse_logfmt stages.

// Codec names of the text codecs.
const (
	CodecCSV    = "csv"
	CodecLogfmt = "logfmt"
)

// CSVOptions are the csv: settings of an input or output whose codec is
// csv.
type CSVOptions struct {
	Columns          []string `yaml:"columns" json:"columns,omitempty" example:"[time, level, msg]" doc:"The field names, in column order. Input: without them the header row names them. Output: the fields written (default: the first record's keys)."`
	Header           *bool    `yaml:"header" json:"header,omitempty" doc:"Input: the first line is a header row (default: true without columns:; with columns:, lines equal to it are skipped). Output: write a header row first (default true)."`
	Delimiter        string   `yaml:"delimiter" json:"delimiter,omitempty" default:"','" doc:"The field separator, one ASCII character."`
	TrimLeadingSpace bool     `yaml:"trim_leading_space" json:"trim_leading_space,omitempty" default:"false" doc:"Input: ignore white space before a field."`
}

// isTextCodec reports whether c is a codec whose records are NDJSON to the
// stages but text lines to the input or output.
func isTextCodec(c string) bool { return c == CodecCSV || c == CodecLogfmt }

// stageCodec is the codec of the records the stages see when the input's
// codec is c: NDJSON for the text codecs.
func stageCodec(c string) string {
	if isTextCodec(c) {
		return CodecNDJSON
	}
	return c
}

// checkCSV validates the csv: settings of an input or output (c is its
// config, codec its codec).
func checkCSV(c Config, file, codec string, o *CSVOptions) error {
	if o == nil {
		return nil
	}
	if codec != CodecCSV {
		return errAtField(c, file, "csv", "csv: settings need codec: csv")
	}
	if d := o.Delimiter; d != "" && (len(d) != 1 || d[0] >= utf8.RuneSelf || d == `"` || d == "\n" || d == "\r") {
		return errAtField(c, file, "csv", "csv: delimiter must be one ASCII character other than a quote or a line break, got %q", d)
	}
	seen := map[string]bool{}
	for _, col := range o.Columns {
		if col == "" || seen[col] {
			return errAtField(c, file, "csv", "csv: column names must be unique and not empty, got %q", col)
		}
		seen[col] = true
	}
	return nil
}

// csvSettings returns the csv settings of a plan's canonical JSON.
func csvSettings(js string) CSVOptions {
	var o CSVOptions
	if js != "" {
		_ = json.Unmarshal([]byte(js), &o) // made by checkCSV
	}
	if o.Delimiter == "" {
		o.Delimiter = ","
	}
	return o
}

// lineDecoder turns one input line into one NDJSON record.
type lineDecoder interface {
	// decode appends the JSON object for line to dst. keep is false for a
	// line that is no record (a blank line, a CSV header row).
	decode(dst, line []byte) (out []byte, keep bool, err error)
}

// newLineDecoder returns the decoder of a text codec, or nil.
func newLineDecoder(s *InputPlan) lineDecoder {
	switch s.Codec {
	case CodecLogfmt:
		return &logfmtDecoder{}
	case CodecCSV:
		o := csvSettings(s.CSV)
		d := &csvDecoder{delim: o.Delimiter[0], trim: o.TrimLeadingSpace, cols: o.Columns}
		d.fromInput = len(o.Columns) == 0 && (o.Header == nil || *o.Header)
		if len(o.Columns) > 0 && o.Header != nil && *o.Header {
			var h []byte
			for i, c := range o.Columns {
				if i > 0 {
					h = append(h, d.delim)
				}
				h = textfmt.AppendCSVField(h, []byte(c), d.delim, true)
			}
			d.header = h
		}
		for _, c := range o.Columns {
			d.keys = append(d.keys, textfmt.AppendJSONString(nil, []byte(c)))
		}
		return d
	}
	return nil
}

func blank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

type csvDecoder struct {
	delim     byte
	trim      bool
	cols      []string
	keys      [][]byte // JSON strings of cols
	fromInput bool     // the first line is the header row
	header    []byte   // lines equal to it are skipped
	buf       []byte
	ends      []int
}

var errCSVNoHeader = errors.New("no valid header row")

func (d *csvDecoder) decode(dst, line []byte) ([]byte, bool, error) {
	if blank(line) {
		return dst, false, nil
	}
	if d.header != nil && bytes.Equal(bytes.TrimSuffix(line, []byte{'\r'}), d.header) {
		return dst, false, nil // a header row (of a later file, too)
	}
	var err error
	d.buf, d.ends, err = textfmt.SplitCSV(d.buf[:0], d.ends[:0], line, d.delim, d.trim)
	if d.fromInput && d.header == nil {
		d.header = bytes.Clone(bytes.TrimSuffix(line, []byte{'\r'}))
		if err != nil {
			return dst, true, fmt.Errorf("header row: %w", err)
		}
		seen := map[string]bool{}
		for i := 0; i < len(d.ends); i += 2 {
			col := string(d.buf[d.ends[i]:d.ends[i+1]])
			if col == "" || seen[col] {
				d.cols, d.keys = nil, nil
				return dst, true, fmt.Errorf("header row: column names must be unique and not empty, got %q", col)
			}
			seen[col] = true
			d.cols = append(d.cols, col)
			d.keys = append(d.keys, textfmt.AppendJSONString(nil, []byte(col)))
		}
		return dst, false, nil
	}
	if err != nil {
		return dst, true, err
	}
	if d.fromInput && d.cols == nil {
		return dst, true, errCSVNoHeader
	}
	if n := len(d.ends) / 2; n != len(d.cols) {
		return dst, true, fmt.Errorf("%d fields, want %d (%d columns)", n, len(d.cols), len(d.cols))
	}
	dst = append(dst, '{')
	for i, k := range d.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, k...)
		dst = append(dst, ':')
		dst = textfmt.AppendJSONString(dst, d.buf[d.ends[2*i]:d.ends[2*i+1]])
	}
	return append(dst, '}'), true, nil
}

type logfmtDecoder struct {
	buf  []byte
	keys [][]byte // this line's keys, for repeated ones
	offs []int    // where each key's value starts and ends in the output
}

func (d *logfmtDecoder) decode(dst, line []byte) ([]byte, bool, error) {
	if blank(line) {
		return dst, false, nil
	}
	start := len(dst)
	out := append(dst, '{')
	d.keys, d.offs = d.keys[:0], d.offs[:0]
	var err error
	var dup bool
	d.buf, err = textfmt.ScanLogfmt(d.buf, line, func(k, v []byte, bare bool) {
		for _, seen := range d.keys {
			if bytes.Equal(seen, k) {
				dup = true
			}
		}
		if len(d.keys) > 0 {
			out = append(out, ',')
		}
		d.keys = append(d.keys, k)
		out = textfmt.AppendJSONString(out, k)
		out = append(out, ':')
		v0 := len(out)
		if bare {
			out = append(out, "true"...)
		} else {
			out = textfmt.AppendJSONString(out, v)
		}
		d.offs = append(d.offs, v0-start, len(out)-start)
	})
	if err != nil {
		return dst, true, err
	}
	out = append(out, '}')
	if dup {
		out = d.dedupe(dst[:start], out[start:])
	}
	return out, true, nil
}

// dedupe rewrites obj (one object whose keys are d.keys, values at d.offs)
// with one field per key: the last value, at the first position.
func (d *logfmtDecoder) dedupe(dst, obj []byte) []byte {
	obj = bytes.Clone(obj)
	dst = append(dst, '{')
	n := 0
	for i, k := range d.keys {
		first := true
		for j := range i {
			if bytes.Equal(d.keys[j], k) {
				first = false
			}
		}
		if !first {
			continue
		}
		last := i
		for j := i + 1; j < len(d.keys); j++ {
			if bytes.Equal(d.keys[j], k) {
				last = j
			}
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = textfmt.AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = append(dst, obj[d.offs[2*last]:d.offs[2*last+1]]...)
	}
	return append(dst, '}')
}

// decode replaces the line at arena[start:end] of the batch being filled
// by its record, under the input's text codec; a line that is no record is
// skipped, a malformed one is a record error of the input. Converted
// records live in slabs of their own (the arena is the read buffer).
func (in *inputRun) decode(start, end int) {
	line := in.b.arena[start:end]
	if len(in.slab) > 48<<10 {
		in.slab = nil // records keep the old slab alive while they need it
	}
	s0 := len(in.slab)
	out, keep, err := in.dec.decode(in.slab, line)
	if !keep {
		return
	}
	if err != nil {
		in.bad(&codec.RecordError{Err: err, Data: line, Size: int64(len(line))})
		return
	}
	in.slab = out
	in.num++
	in.b.addRef(start, end, in.num)
	r := in.b.recs[len(in.b.recs)-1]
	r.Data = out[s0:len(out):len(out)]
}

// lineEncoder turns one record into one output line.
type lineEncoder interface {
	// encode appends the line for rec (without its newline) to dst.
	encode(dst, rec []byte) ([]byte, error)
	// header appends the line written before the first record, if any.
	header(dst []byte) []byte
}

// newLineEncoder returns the encoder of a text codec, or nil.
func newLineEncoder(o OutputPlan) lineEncoder {
	switch o.Codec {
	case CodecLogfmt:
		return &logfmtEncoder{}
	case CodecCSV:
		s := csvSettings(o.CSV)
		return &csvEncoder{delim: s.Delimiter[0], cols: s.Columns, head: s.Header == nil || *s.Header}
	}
	return nil
}

var errNotObject = errors.New("not a JSON object")

type logfmtEncoder struct {
	scratch []byte
	keys    keySet
}

func (e *logfmtEncoder) header(dst []byte) []byte { return dst }

func (e *logfmtEncoder) encode(dst, rec []byte) ([]byte, error) {
	v := gjson.ParseBytes(rec)
	if !v.IsObject() || !gjson.ValidBytes(rec) {
		return dst, fmt.Errorf("%w (output codec is logfmt)", errNotObject)
	}
	start := len(dst)
	var err error
	n := 0
	e.keys.reset()
	v.ForEach(func(k, val gjson.Result) bool {
		key := []byte(k.Str)
		if !textfmt.ValidLogfmtKey(key) {
			err = fmt.Errorf("key %q cannot be written in logfmt (empty, or with white space, = or a quote)", k.Str)
			return false
		}
		if err = e.keys.add(k.Str); err != nil {
			return false
		}
		if n > 0 {
			dst = append(dst, ' ')
		}
		n++
		dst = append(dst, key...)
		dst = append(dst, '=')
		dst = textfmt.AppendLogfmtValue(dst, e.text(val))
		return true
	})
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// text is a JSON value as a text codec writes it: a string's text, null as
// nothing, any other value's JSON.
func (e *logfmtEncoder) text(v gjson.Result) []byte {
	return valueText(&e.scratch, v)
}

func valueText(scratch *[]byte, v gjson.Result) []byte {
	switch v.Type {
	case gjson.String:
		*scratch = append((*scratch)[:0], v.Str...)
		return *scratch
	case gjson.Null:
		return nil
	}
	return []byte(v.Raw)
}

type csvEncoder struct {
	delim   byte
	cols    []string
	head    bool
	scratch []byte
	keys    keySet
}

func (e *csvEncoder) header(dst []byte) []byte {
	if !e.head {
		return dst
	}
	for i, c := range e.cols {
		if i > 0 {
			dst = append(dst, e.delim)
		}
		dst = textfmt.AppendCSVField(dst, []byte(c), e.delim, true)
	}
	return dst
}

func (e *csvEncoder) encode(dst, rec []byte) ([]byte, error) {
	v := gjson.ParseBytes(rec)
	if !v.IsObject() || !gjson.ValidBytes(rec) {
		return dst, fmt.Errorf("%w (output codec is csv)", errNotObject)
	}
	e.keys.reset()
	var err error
	v.ForEach(func(k, _ gjson.Result) bool {
		err = e.keys.add(k.Str)
		return err == nil
	})
	if err != nil {
		return dst, err
	}
	if e.cols == nil { // the first record's keys name the columns
		e.cols = append([]string{}, e.keys.list...)
	}
	for i, c := range e.cols {
		if i > 0 {
			dst = append(dst, e.delim)
		}
		dst = textfmt.AppendCSVField(dst, valueText(&e.scratch, v.Get(escapePath(c))), e.delim, false)
	}
	return dst, nil
}

// escapePath makes a column name a literal gjson path.
func escapePath(s string) string {
	if !bytes.ContainsAny([]byte(s), `.*?#|@\!=<>%"`) {
		return s
	}
	var b []byte
	for i := range len(s) {
		switch s[i] {
		case '.', '*', '?', '#', '|', '@', '\\', '!', '=', '<', '>', '%', '"':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// writeEncoded writes the batch under a text codec: each record one line;
// a record that cannot be written is a record error of the output.
func (s *writerSink) writeEncoded(rs *runState, c *counters, b *batch, more bool) error {
	var written int64
	for _, r := range b.recs {
		line, err := s.enc.encode(s.line[:0], r.Data)
		if err != nil {
			cause := fmt.Errorf("%w: %v", ErrInvalidRecord, err)
			if err := onError(s.policy, rs, c, "output", r, cause, &StageError{Stage: "output", Op: "write", Record: r.Number(), Err: cause}); err != nil {
				return err
			}
			continue
		}
		s.line = line
		if !s.headerDone {
			s.headerDone = true
			if h := s.enc.header(nil); len(h) > 0 {
				s.bw.Write(h)
				s.bw.WriteByte('\n')
			}
		}
		s.bw.Write(line)
		if err := s.writeErr(s.bw.WriteByte('\n')); err != nil {
			return err
		}
		written++
	}
	c.passed.Add(written)
	c.out.Add(written)
	if !more {
		return s.flush()
	}
	return nil
}

// csvJSON is the canonical JSON of csv: settings for the plan ("" when
// none).
func csvJSON(o *CSVOptions) string {
	if o == nil {
		return ""
	}
	b, _ := json.Marshal(o)
	return string(b)
}

// keySet is the keys of one object, for repeated ones: a text codec
// writes a key once, and which of two values would be the one is the
// choice RATIONALE.md ("Lost or changed data") refuses to make.
type keySet struct {
	list []string
	m    map[string]struct{} // beyond 32 keys
}

func (s *keySet) reset() {
	s.list = s.list[:0]
	clear(s.m)
}

// add adds key; a key already there is an error.
func (s *keySet) add(key string) error {
	if len(s.list) < 32 {
		if slices.Contains(s.list, key) {
			return fmt.Errorf("key %q repeated in the object", key)
		}
		s.list = append(s.list, key)
		return nil
	}
	if s.m == nil {
		s.m = make(map[string]struct{})
	}
	if len(s.m) == 0 {
		for _, k := range s.list {
			s.m[k] = struct{}{}
		}
	}
	if _, ok := s.m[key]; ok {
		return fmt.Errorf("key %q repeated in the object", key)
	}
	s.m[key] = struct{}{}
	s.list = append(s.list, key)
	return nil
}
