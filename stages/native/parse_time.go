package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "parse_time", New: newParseTime, Config: parseTimeConfig{},
		Summary: "parse a time (RFC 3339, Unix seconds/millis/micros/nanos, strftime layouts) and write it in a chosen format",
		Doc: "`formats` are tried in order: `rfc3339`, `unix`, `unix_ms`, `unix_us`, `unix_ns` (a JSON number or a string of " +
			"digits, with an optional fraction), or a strftime layout (`%Y-%m-%d %H:%M:%S`; directives %Y %y %m %d %e %H %I %M " +
			"%S %p %f %L %N %b %h %B %a %A %j %z %:z %Z %s %T %D %F %R %n %t %%; a space matches a run of spaces). A layout " +
			"without a zone reads the time in `timezone`; `%Z` understands only UTC, GMT and Z (other names are ambiguous; the " +
			"time is then read in `timezone`). A layout without a year takes the current year, or the year before when that " +
			"would put the time more than a day in the future (syslog's `Dec 31` read on January 1st). `output` is `rfc3339` " +
			"(nanoseconds as needed), `unix`, `unix_ms`, `unix_us`, `unix_ns` (JSON integers) or a strftime layout, written in " +
			"`output_timezone`. A time that does not parse in any format fails the record (`on_error`).",
		Examples: []component.Example{
			{Title: "an access-log time to RFC 3339", YAML: "- name: ts\n  type: native\n  use: parse_time\n  config: {field: time, formats: ['%d/%b/%Y:%H:%M:%S %z']}"},
			{Title: "epoch milliseconds to RFC 3339 in a new field", YAML: "- {name: ts, type: native, use: parse_time, config: {field: ts_ms, target: time, formats: [unix_ms]}}"},
		}})
}

type parseTimeConfig struct {
	Field          string   `yaml:"field" example:"time" doc:"The JSON field holding the time (a string, or a number for the unix formats); without it the whole line is the time."`
	Target         string   `yaml:"target" example:"timestamp" doc:"Where the result goes (a dotted path); by default the field itself, or \"time\" for a line."`
	Formats        []string `yaml:"formats" default:"[rfc3339]" example:"[rfc3339, '%d/%b/%Y:%H:%M:%S %z', unix_ms]" doc:"The formats to try, in order: rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime layout."`
	Output         string   `yaml:"output" default:"rfc3339" example:"'%Y-%m-%d %H:%M:%S'" doc:"The output format: rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime layout."`
	Timezone       string   `yaml:"timezone" default:"UTC" example:"Europe/Berlin" doc:"The zone of times written without one: an IANA name, UTC, Local or an offset such as +02:00."`
	OutputTimezone string   `yaml:"output_timezone" default:"UTC" example:"Local" doc:"The zone the output is written in (rfc3339 and layouts)."`
}

// timeFormat is one input or output format.
type timeFormat struct {
	name string    // rfc3339, unix, unix_ms, unix_us, unix_ns; "" for a layout
	tf   *strftime // the layout
}

func compileTimeFormat(s string) (timeFormat, error) {
	switch s {
	case "rfc3339", "unix", "unix_ms", "unix_us", "unix_ns":
		return timeFormat{name: s}, nil
	}
	if !strings.Contains(s, "%") {
		return timeFormat{}, fmt.Errorf("format %q: want rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime layout (with %% directives)", s)
	}
	tf, err := compileStrftime(s)
	if err != nil {
		return timeFormat{}, fmt.Errorf("layout %q: %w", s, err)
	}
	return timeFormat{tf: tf}, nil
}

func loadZone(s string) (*time.Location, error) {
	switch s {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return time.Local, nil
	}
	if s[0] == '+' || s[0] == '-' {
		if loc, n, ok := parseOffset([]byte(s), 0); ok && n == len(s) {
			return loc, nil
		}
		return nil, fmt.Errorf("bad offset %q (want +hh:mm)", s)
	}
	return time.LoadLocation(s)
}

// ParseTime parses times and writes them in another format.
type ParseTime struct {
	field, target string
	formats       []timeFormat
	output        timeFormat
	loc, outLoc   *time.Location
	now           func() time.Time
	buf, tbuf     []byte
	rfc3339First  bool // formats[0] is rfc3339: parseRFC3339Fast may decide (aggregate)
}

func newParseTime(cfg engine.Config) (engine.Transformer, error) {
	var c parseTimeConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	p := &ParseTime{field: c.Field, target: c.Target, now: time.Now}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	switch {
	case c.Target != "":
		if err := checkPath(cfg, "target", c.Target); err != nil {
			return nil, err
		}
	case c.Field != "":
		p.target = c.Field
	default:
		p.target = "time"
	}
	if len(c.Formats) == 0 {
		return nil, cfg.Errorf("formats", "formats must not be empty")
	}
	for _, s := range c.Formats {
		f, err := compileTimeFormat(s)
		if err != nil {
			return nil, cfg.Errorf("formats", "%v", err)
		}
		p.formats = append(p.formats, f)
	}
	var err error
	if p.output, err = compileTimeFormat(c.Output); err != nil {
		return nil, cfg.Errorf("output", "%v", err)
	}
	if p.loc, err = loadZone(c.Timezone); err != nil {
		return nil, cfg.Errorf("timezone", "timezone: %v", err)
	}
	if p.outLoc, err = loadZone(c.OutputTimezone); err != nil {
		return nil, cfg.Errorf("output_timezone", "output_timezone: %v", err)
	}
	return p, nil
}

var errTime = errors.New("time does not parse")

// parse reads text (a JSON number's text when number) in the formats.
func (p *ParseTime) parse(text []byte, number bool) (time.Time, error) {
	for _, f := range p.formats {
		var t time.Time
		var err error
		switch {
		case f.tf != nil:
			if number {
				continue
			}
			t, err = f.tf.parse(text, p.loc, p.now)
		case f.name == "rfc3339":
			if number {
				continue
			}
			t, err = time.Parse(time.RFC3339Nano, string(text))
		default:
			t, err = parseUnix(text, f.name)
		}
		if err == nil {
			return t, nil
		}
	}
	if len(p.formats) == 1 {
		return time.Time{}, fmt.Errorf("%w: %q is not %s", errTime, text, p.formatName(0))
	}
	return time.Time{}, fmt.Errorf("%w: %q matches none of %d formats", errTime, text, len(p.formats))
}

func (p *ParseTime) formatName(i int) string {
	if f := p.formats[i]; f.tf == nil {
		return f.name
	}
	return "in the layout"
}

var unixScale = map[string]int64{"unix": 1e9, "unix_ms": 1e6, "unix_us": 1e3, "unix_ns": 1}

// parseUnix reads a decimal number of seconds, ms, µs or ns since the
// epoch: digits with an optional sign and fraction (or exponent).
func parseUnix(text []byte, unit string) (time.Time, error) {
	scale := unixScale[unit]
	s := text
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	intPart, frac, _ := bytes.Cut(s, []byte("."))
	if len(intPart) == 0 || len(intPart) > 19 || bytes.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f*float64(scale)) > math.MaxInt64 {
			return time.Time{}, errTime
		}
		return time.Unix(0, int64(f*float64(scale))).UTC(), nil
	}
	var n int64
	for _, c := range intPart {
		if c < '0' || c > '9' {
			return time.Time{}, errTime
		}
		n = n*10 + int64(c-'0')
	}
	var fn int64 // the fraction in ns of the unit... scaled below
	digits := 0
	for _, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, errTime
		}
		if digits < 9 {
			fn = fn*10 + int64(c-'0')
			digits++
		}
	}
	for ; digits < 9; digits++ {
		fn *= 10
	}
	if n > math.MaxInt64/scale {
		return time.Time{}, errTime
	}
	// n units + fn/1e9 units, in ns.
	sec := n * scale / 1e9
	ns := n*scale%1e9 + fn*scale/1e9
	t := time.Unix(sec, ns)
	if neg {
		t = time.Unix(0, 0).Add(-t.Sub(time.Unix(0, 0)))
	}
	return t.UTC(), nil
}

// appendTime appends t as JSON in the output format.
func (p *ParseTime) appendTime(dst []byte, t time.Time) []byte {
	switch p.output.name {
	case "unix":
		return strconv.AppendInt(dst, t.Unix(), 10)
	case "unix_ms":
		return strconv.AppendInt(dst, t.UnixMilli(), 10)
	case "unix_us":
		return strconv.AppendInt(dst, t.UnixMicro(), 10)
	case "unix_ns":
		return strconv.AppendInt(dst, t.UnixNano(), 10)
	}
	t = t.In(p.outLoc)
	dst = append(dst, '"')
	if p.output.tf != nil {
		s := len(dst)
		dst = p.output.tf.format(dst, t)
		// The layout's literal text may hold quotes or control bytes.
		if bytes.ContainsAny(dst[s:], "\"\\") || hasControl(dst[s:]) {
			esc := appendJSONString(nil, dst[s:])
			dst = append(dst[:s-1], esc...)
			return dst
		}
	} else {
		dst = t.AppendFormat(dst, time.RFC3339Nano)
	}
	return append(dst, '"')
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// Transform implements engine.Transformer.
func (p *ParseTime) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.field == "" {
		t, err := p.parse(r.Data, false)
		if err != nil {
			return err
		}
		p.tbuf = p.appendTime(p.tbuf[:0], t)
		out := append(p.buf[:0], '{')
		out = appendNested(out, p.target, p.tbuf)
		out = append(out, '}')
		p.buf = out
		r.Data = bytes.Clone(out)
		emit(r)
		return nil
	}
	v, err := jsonField(r.Data, p.field)
	if err != nil {
		return err
	}
	var t time.Time
	switch v.Type {
	case gjson.String:
		p.buf = append(p.buf[:0], v.Str...)
		t, err = p.parse(p.buf, false)
	case gjson.Number:
		p.buf = append(p.buf[:0], v.Raw...)
		t, err = p.parse(p.buf, true)
	case gjson.Null:
		if !v.Exists() {
			return fmt.Errorf("field %q is missing", p.field)
		}
		return fmt.Errorf("field %q is null", p.field)
	default:
		return fmt.Errorf("field %q is not a string or a number", p.field)
	}
	if err != nil {
		return fmt.Errorf("field %q: %w", p.field, err)
	}
	p.buf = p.appendTime(p.buf[:0], t)
	if err := jsonkey.Path(r.Data, p.target); err != nil {
		return err
	}
	data, err := sjson.SetRawBytes(r.Data, p.target, p.buf)
	if err != nil {
		return err
	}
	r.Data = data
	emit(r)
	return nil
}

var _ engine.Transformer = (*ParseTime)(nil)
