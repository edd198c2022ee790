package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/textfmt"
	"github.com/tidwall/gjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "parse_csv", New: newParseCSV, Config: parseCSVConfig{},
		Summary: "parse a CSV row (RFC 4180 quoting) into a JSON object keyed by the header row or by columns:",
		Doc: "Fields are separated by `delimiter`; a field may be quoted with `\"`, a quote inside it doubled (`\"\"`). Each " +
			"record is one row (one line: a quoted field cannot span lines). A row with another number of fields than the " +
			"columns, or an unterminated quote, fails the record (`on_error`).\n\n" +
			"With `header: true` and no `columns:`, the first record a stage instance sees is the header row: it is consumed " +
			"(counted as dropped) and names the fields; later records equal to it (the headers of concatenated files) are " +
			"dropped too. Each worker is an instance of its own, so this needs `workers: 1`; an " +
			"instance whose first record is not the input's record 1 (another worker's share, or records before the header " +
			"dropped by an earlier stage) fails its records rather than take a data row for the header: give `columns:` then. " +
			"With `columns:` and `header: true`, a record equal to the header (the columns joined by the delimiter) is dropped " +
			"wherever it is, which works with any number of workers and with concatenated files.",
		Examples: []component.Example{
			{Title: "a CSV file with a header row", YAML: "- {name: csv, type: native, use: parse_csv, config: {header: true, types: {qty: int}}}"},
			{Title: "given columns, tab-separated", YAML: "- {name: tsv, type: native, use: parse_csv, config: {columns: [ts, host, msg], delimiter: \"\\t\"}}"},
		}})
}

type parseCSVConfig struct {
	Columns          []string `yaml:"columns" example:"[id, name, qty]" doc:"The field names, in column order; without them header: true reads them from the first record."`
	Header           bool     `yaml:"header" default:"false" doc:"The input has a header row: read the columns from it, or (with columns:) drop the records equal to it."`
	Delimiter        string   `yaml:"delimiter" default:"','" doc:"The field separator, one character."`
	TrimLeadingSpace bool     `yaml:"trim_leading_space" default:"false" doc:"Ignore white space before a field."`
	parseIO          `yaml:",inline"`
	parseTypes       `yaml:",inline"`
}

// csvParser parses one RFC 4180 row per record.
type csvParser struct {
	fieldsParser
	delim     byte
	trim      bool
	cols      []string
	fromInput bool   // the header is read from the input
	header    []byte // the header row, when records equal to it are dropped
	seen      bool   // a record was seen (the header, when fromInput)
	firstNum  int64  // the record number of the first record seen
	ends      []int  // field boundaries in p.buf: start, end pairs
}

func newParseCSV(cfg engine.Config) (engine.Transformer, error) {
	var c parseCSVConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(c.Delimiter) != 1 || c.Delimiter[0] >= utf8.RuneSelf || c.Delimiter == `"` ||
		c.Delimiter == "\n" || c.Delimiter == "\r" {
		return nil, cfg.Errorf("delimiter", "delimiter must be one ASCII character other than a quote or a line break, got %q", c.Delimiter)
	}
	if len(c.Columns) == 0 && !c.Header {
		return nil, cfg.Errorf("", "parse_csv needs columns: or header: true")
	}
	seen := map[string]bool{}
	for _, col := range c.Columns {
		if col == "" || seen[col] {
			return nil, cfg.Errorf("columns", "column names must be unique and not empty, got %q", col)
		}
		seen[col] = true
	}
	var known func(string) bool
	if len(c.Columns) > 0 {
		known = func(k string) bool { return seen[k] }
	}
	types, err := compileTypes(cfg, c.Types, known)
	if err != nil {
		return nil, err
	}
	p := &csvParser{delim: c.Delimiter[0], trim: c.TrimLeadingSpace, cols: c.Columns, fromInput: c.Header && len(c.Columns) == 0}
	p.types = types
	if c.Header && len(c.Columns) > 0 {
		p.header = csvJoin(c.Columns, p.delim)
	}
	return &csvStage{parseStage: newParseStage(c.parseIO, p), csv: p}, nil
}

// csvJoin writes cols as one CSV row, quoting where needed.
func csvJoin(cols []string, delim byte) []byte {
	var b []byte
	for i, c := range cols {
		if i > 0 {
			b = append(b, delim)
		}
		b = textfmt.AppendCSVField(b, []byte(c), delim, true)
	}
	return b
}

// csvStage drops header rows before parsing.
type csvStage struct {
	*parseStage
	csv *csvParser
}

// errCSVHeader fails records of an instance that did not see the header.
var errCSVHeader = errors.New("header: true reads the header from the input's first record, but this instance's first record was not it (with workers > 1 or an earlier stage that drops records, give columns:)")

// Transform implements engine.Transformer.
func (s *csvStage) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := s.transform(r)
	if err != nil || data == nil {
		return err
	}
	r.Data = data
	emit(r)
	return nil
}

// TransformBatch implements engine.BatchTransformer.
func (s *csvStage) TransformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult) error {
	return s.transformBatch(ctx, recs, out, s.transform)
}

// transform returns record r's output data, or nil for a header row; it
// does not change r.
func (s *csvStage) transform(r *engine.Record) ([]byte, error) {
	p := s.csv
	if p.fromInput && !p.seen {
		p.seen, p.firstNum = true, r.Number()
		if n := r.Number(); n > 1 {
			return nil, fmt.Errorf("record %d: %w", n, errCSVHeader)
		}
		text, err := s.text(r)
		if err != nil {
			return nil, err
		}
		if err := p.split(text); err != nil {
			return nil, fmt.Errorf("header row: %w", err)
		}
		seen := map[string]bool{}
		for i := 0; i < len(p.ends); i += 2 {
			col := string(p.p.buf[p.ends[i]:p.ends[i+1]])
			if col == "" || seen[col] {
				p.cols = nil
				return nil, fmt.Errorf("header row: column names must be unique and not empty, got %q", col)
			}
			seen[col] = true
			p.cols = append(p.cols, col)
		}
		p.header = bytes.Clone(text)
		return nil, nil // the header row is consumed
	}
	if p.fromInput && p.cols == nil {
		if p.firstNum > 1 {
			return nil, errCSVHeader
		}
		return nil, errors.New("no valid header row")
	}
	if p.header != nil {
		text, err := s.text(r)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(text, p.header) {
			return nil, nil // a header row: dropped
		}
	}
	return s.parseStage.transform(r)
}

// text returns the text the stage parses from r.
func (s *csvStage) text(r *engine.Record) ([]byte, error) {
	if s.io.Field == "" {
		return r.Data, nil
	}
	v, err := jsonField(r.Data, s.io.Field)
	if err != nil {
		return nil, err
	}
	if v.Type != gjson.String {
		return nil, fmt.Errorf("field %q is missing or not a string", s.io.Field)
	}
	s.src = append(s.src[:0], v.Str...)
	return s.src, nil
}

// split splits one row into p.buf, with boundaries in p.ends.
func (p *csvParser) split(text []byte) error {
	p.p.reset()
	var err error
	p.p.buf, p.ends, err = textfmt.SplitCSV(p.p.buf, p.ends[:0], text, p.delim, p.trim)
	return err
}

func (p *csvParser) parseLine(dst, text []byte) ([]byte, error) {
	if err := p.split(text); err != nil {
		return dst, err
	}
	if n := len(p.ends) / 2; n != len(p.cols) {
		return dst, fmt.Errorf("%d fields, want %d (%d columns)", n, len(p.cols), len(p.cols))
	}
	// Keys go after the values in buf; fields point into both.
	for i, col := range p.cols {
		k := p.p.keyString(col)
		p.p.fs[k].v0, p.p.fs[k].v1 = p.ends[2*i], p.ends[2*i+1]
	}
	return p.finish(dst)
}
