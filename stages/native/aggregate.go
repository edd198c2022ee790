package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/gjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "aggregate", New: newAggregate, Config: aggregateConfig{},
		Summary: "windowed aggregation: count, sum, min, max, avg, distinct and percentiles per group, per time or count window",
		Doc: "Records are consumed; one JSON object per window and group is emitted: `window_start` and `window_end` (time " +
			"windows), the `group_by` fields (a missing one is null) and one key per aggregate.\n\n" +
			"**Windows.** `window: 1m` makes tumbling windows, aligned on the Unix epoch; with `slide: 10s` they slide (each record " +
			"counts in window/slide windows). `count: N` emits a group's results every N records of that group. With neither, " +
			"one window spans the whole input and is emitted at its end (this is what `count` does).\n\n" +
			"**Time.** Without `time_field`, windows follow processing time (the clock when a record arrives) and close when " +
			"the clock passes their end. With `time_field`, they follow event time: the watermark is the latest event time seen " +
			"minus `allowed_lateness`, and a window closes once the watermark passes its end. While no record arrives, the " +
			"watermark advances with the clock from the latest event once the input has been silent for one slide (`idle_advance`), so windows close on time on a live " +
			"stream (`tail -f`). A record whose every window has closed is late: `late: drop` consumes it (counted as dropped), " +
			"`count` also emits `{\"late\":N,\"watermark\":T}` after the next windows that close (and at the end of input), `error` fails " +
			"it with ErrLateRecord under the stage's `on_error` (`dead_letter` writes it to the dead-letter file).\n\n" +
			"The stage checks its windows every `tick` even when no record arrives (a stage.Ticker), so it must run with " +
			"`workers: 1`. At the end of input every open window is emitted.\n\n" +
			"**Delivery.** The input records a window holds are acknowledged (checkpointed, acked to a broker) only after " +
			"the window was emitted and written by the output, so a crash before it closes makes the input read them " +
			"again; windows that closed after the oldest held record are then emitted twice.\n\n" +
			"**Functions.** `count` (records, or non-null values of `field`), `sum`, `min`, `max`, `avg` (of numbers, or strings " +
			"holding one; a value that is neither fails the record; results are null when a group had no value), `distinct` " +
			"(exact count of distinct values, at most `max_distinct` per group), and percentiles `p50`, `p90`, `p99`, `p99.9` " +
			"(any `pNN`) from a DDSketch (DataDog/sketches-go) with relative accuracy `relative_accuracy`, in bounded memory.\n\n" +
			"**Memory.** At most `max_groups` groups are open over all windows. When a record would open one more, " +
			"`on_max_groups: other` counts it in one group per window emitted as `{\"other\":true,...}`; `evict` emits the oldest " +
			"open group at once with `\"partial\":true` (later results of its window are marked partial too); `error` fails the " +
			"record with ErrTooManyGroups under `on_error`.",
		Examples: []component.Example{
			{Title: "requests and p99 latency per service per second (event time)", YAML: "- name: per-second\n  type: native\n  use: aggregate\n  config:\n    window: 1s\n    time_field: ts\n    group_by: [service]\n    aggregates: [{fn: count}, {fn: p99, field: latency_ms}]"},
			{Title: "5-minute windows sliding every minute, late records dead-lettered", YAML: "- name: sliding\n  type: native\n  use: aggregate\n  on_error: dead_letter\n  config: {window: 5m, slide: 1m, time_field: time, allowed_lateness: 30s, late: error, group_by: [host], aggregates: [{fn: avg, field: cpu}, {fn: max, field: cpu}]}"},
			{Title: "errors per minute on a live stream (processing time)", YAML: "- {name: per-minute, type: native, use: aggregate, config: {window: 1m, group_by: [level]}}"},
		}})
}

// ErrLateRecord fails a record under late: error: every window it belongs
// to had closed when it arrived.
var ErrLateRecord = errors.New("late record")

// ErrTooManyGroups fails a record under on_max_groups: error: it would open
// a group beyond max_groups.
var ErrTooManyGroups = errors.New("too many open groups")

type aggregateConfig struct {
	Window           time.Duration `yaml:"window" example:"1m" doc:"Length of a time window (tumbling, aligned on the Unix epoch); 0 with no count: is one window over the whole input."`
	Slide            time.Duration `yaml:"slide" example:"10s" doc:"Sliding windows: one starts every slide (window must be a multiple of it); default: window (tumbling)."`
	Count            int           `yaml:"count" example:"1000" doc:"Count windows instead of time windows: a group's results are emitted every count records of that group."`
	TimeField        string        `yaml:"time_field" example:"ts" doc:"Event time: the dotted path of the record's time; without it windows follow processing time."`
	TimeFormats      []string      `yaml:"time_formats" default:"[rfc3339]" example:"[rfc3339, unix_ms]" doc:"Formats of time_field, tried in order, as parse_time's formats: rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime layout."`
	Timezone         string        `yaml:"timezone" default:"UTC" doc:"The zone of event times written without one: an IANA name, UTC, Local or an offset such as +02:00."`
	GroupBy          []string      `yaml:"group_by" example:"[service, host]" doc:"Dotted paths of JSON fields: one result per distinct combination of their values (a missing field is null)."`
	Aggregates       []aggSpec     `yaml:"aggregates" example:"[{fn: count}, {fn: p99, field: latency_ms}]" doc:"The functions to compute (default: [{fn: count}])."`
	AllowedLateness  time.Duration `yaml:"allowed_lateness" example:"5s" doc:"Event time: how far behind the latest event time a record may be and still count (the watermark lags by this much)."`
	Late             string        `yaml:"late" default:"drop" enum:"drop,count,error" doc:"A record whose windows have all closed: drop it, count it (emitted as {late: N}), or fail it (error: on_error decides, e.g. dead_letter)."`
	IdleAdvance      bool          `yaml:"idle_advance" default:"true" doc:"Event time: once no record has arrived for one slide, advance the watermark with the clock, so windows close on time on a live stream (turn off to close windows by event time alone, as for a replay)."`
	MaxGroups        int           `yaml:"max_groups" default:"100000" doc:"Groups open at once, over all windows."`
	OnMaxGroups      string        `yaml:"on_max_groups" default:"other" enum:"other,evict,error" doc:"When a record would open a group beyond max_groups: count it under {other: true}, emit the oldest group early (partial: true), or fail the record."`
	Tick             time.Duration `yaml:"tick" example:"100ms" doc:"How often windows are checked for closing while no record arrives (default: a tenth of slide, between 10ms and 1s)."`
	TimeOutput       string        `yaml:"time_output" default:"rfc3339" doc:"Format of window_start and window_end: rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime layout."`
	RelativeAccuracy float64       `yaml:"relative_accuracy" default:"0.01" doc:"Percentiles: the sketch's relative accuracy (0.01: within 1% of the true value)."`
	MaxDistinct      int           `yaml:"max_distinct" default:"100000" doc:"distinct: values kept per group and field; the count stops there."`
}

type aggSpec struct {
	Fn    string `yaml:"fn" required:"true" example:"p99" doc:"count, sum, min, max, avg, distinct, or a percentile pNN (p50, p90, p99, p99.9)."`
	Field string `yaml:"field" example:"latency_ms" doc:"Dotted path of the field; count without it counts records."`
	As    string `yaml:"as" example:"p99_latency" doc:"Output key (default: count, or FN_FIELD such as p99_latency_ms)."`
}

// aggFn is one aggregate function.
type aggFn uint8

const (
	fnCount aggFn = iota
	fnSum
	fnMin
	fnMax
	fnAvg
	fnDistinct
	fnQuantile
)

var aggFns = map[string]aggFn{"count": fnCount, "sum": fnSum, "min": fnMin, "max": fnMax, "avg": fnAvg, "distinct": fnDistinct}

// aggOut is one output key of a group's result.
type aggOut struct {
	name  []byte // JSON string
	fn    aggFn
	field int     // index in fields; -1 for count of records
	q     float64 // fnQuantile
}

// aggFieldSpec is one field the aggregates read, with what they need of it.
type aggFieldSpec struct {
	path                      string
	numeric, sketch, distinct bool
}

// window modes.
const (
	modeAll   = iota // one window over the whole input
	modeCount        // count windows per group
	modeTime         // time windows (tumbling or sliding)
)

// Aggregate is the aggregate stage: see the registration's doc.
type Aggregate struct {
	mode        int
	size, slide int64 // ns (modeTime)
	count       int64 // modeCount
	event       *ParseTime
	timeField   string
	lateness    int64
	late        string
	idle        bool
	maxGroups   int
	onMax       string
	tick        time.Duration
	out         *ParseTime // renders window_start and window_end
	groupBy     []string
	groupNames  [][]byte // JSON strings of the group_by keys
	fields      []aggFieldSpec
	outs        []aggOut
	mapping     mapping.IndexMapping
	maxDistinct int
	emitEmpty   bool // count without by: {"count":0} for an empty input
	needJSON    bool
	top         *topFields // reads every path in one pass, when they are plain keys
	topOK       bool       // top holds the current record's fields
	now         func() time.Time
	seed        maphash.Seed

	windows map[int64]*aggWindow
	starts  []int64     // open windows' starts, ascending
	open    int         // open groups over all windows
	fifo    []*aggGroup // evict: groups in the order they opened, from head
	head    int
	wm      int64     // watermark (event time); math.MinInt64 before any record
	maxEv   int64     // latest event time seen
	maxEvAt time.Time // when it arrived
	lastAt  time.Time // when the last record arrived
	seenEv  bool
	nLate   int64 // late records not reported yet (late: count)

	// consumed counts the records given to Transform; a group's first is
	// the count when it opened, lateFirst the count at the first late
	// record not reported yet (Retained).
	consumed  int64
	lateFirst int64

	inTransform bool // emits come from Transform (see emitNew)

	// per-record scratch
	key    []byte
	vals   []aggValue
	buf    []byte
	render []byte
}

type aggValue struct {
	exists bool
	num    float64
	hash   uint64
}

func newAggregate(cfg engine.Config) (engine.Transformer, error) {
	var c aggregateConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	return buildAggregate(cfg, c)
}

func buildAggregate(cfg engine.Config, c aggregateConfig) (*Aggregate, error) {
	a := &Aggregate{late: c.Late, idle: c.IdleAdvance, maxGroups: c.MaxGroups, onMax: c.OnMaxGroups,
		maxDistinct: c.MaxDistinct, now: time.Now, seed: maphash.MakeSeed(), windows: map[int64]*aggWindow{},
		wm: math.MinInt64, lateness: int64(c.AllowedLateness)}
	switch {
	case c.Window < 0:
		return nil, cfg.Errorf("window", "window must not be negative")
	case c.Count < 0:
		return nil, cfg.Errorf("count", "count must not be negative")
	case c.Window > 0 && c.Count > 0:
		return nil, cfg.Errorf("count", "give window: (time windows) or count: (count windows), not both")
	case c.Window > 0:
		a.mode, a.size, a.slide = modeTime, int64(c.Window), int64(c.Window)
		if c.Slide < 0 || c.Slide > c.Window || (c.Slide > 0 && c.Window%c.Slide != 0) {
			return nil, cfg.Errorf("slide", "slide must be positive, at most window and divide it, got %v for a window of %v", c.Slide, c.Window)
		}
		if c.Slide > 0 {
			a.slide = int64(c.Slide)
		}
		if a.size/a.slide > 1000 {
			return nil, cfg.Errorf("slide", "a record would count in %d sliding windows; at most 1000 (make slide larger)", a.size/a.slide)
		}
	case c.Count > 0:
		a.mode, a.count = modeCount, int64(c.Count)
	}
	if a.mode != modeTime {
		for _, k := range []string{"slide", "time_field", "allowed_lateness", "tick"} {
			if slices.Contains(cfg.Keys(), k) {
				return nil, cfg.Errorf(k, "%s needs time windows (window:)", k)
			}
		}
	}
	if c.TimeField != "" {
		if err := checkPath(cfg, "time_field", c.TimeField); err != nil {
			return nil, err
		}
		if len(c.TimeFormats) == 0 {
			return nil, cfg.Errorf("time_formats", "time_formats must not be empty")
		}
		a.event = &ParseTime{now: time.Now}
		for _, s := range c.TimeFormats {
			f, err := compileTimeFormat(s)
			if err != nil {
				return nil, cfg.Errorf("time_formats", "%v", err)
			}
			a.event.formats = append(a.event.formats, f)
		}
		a.event.rfc3339First = a.event.formats[0].name == "rfc3339"
		var err error
		if a.event.loc, err = loadZone(c.Timezone); err != nil {
			return nil, cfg.Errorf("timezone", "timezone: %v", err)
		}
		a.timeField, a.needJSON = c.TimeField, true
	} else if slices.Contains(cfg.Keys(), "allowed_lateness") {
		return nil, cfg.Errorf("allowed_lateness", "allowed_lateness needs event time (time_field:)")
	}
	if c.AllowedLateness < 0 {
		return nil, cfg.Errorf("allowed_lateness", "allowed_lateness must not be negative")
	}
	if c.MaxGroups < 1 {
		return nil, cfg.Errorf("max_groups", "max_groups must be at least 1")
	}
	if c.MaxDistinct < 1 {
		return nil, cfg.Errorf("max_distinct", "max_distinct must be at least 1")
	}
	if c.Tick < 0 {
		return nil, cfg.Errorf("tick", "tick must not be negative")
	}
	if a.mode == modeTime {
		a.tick = c.Tick
		if a.tick == 0 {
			a.tick = min(max(time.Duration(a.slide/10), 10*time.Millisecond), time.Second)
		}
		out, err := compileTimeFormat(c.TimeOutput)
		if err != nil {
			return nil, cfg.Errorf("time_output", "%v", err)
		}
		a.out = &ParseTime{output: out, outLoc: time.UTC}
	}
	seenKey := map[string]bool{}
	for _, g := range c.GroupBy {
		if err := checkPath(cfg, "group_by", g); err != nil {
			return nil, err
		}
		if seenKey[g] {
			return nil, cfg.Errorf("group_by", "group_by names %q twice", g)
		}
		seenKey[g] = true
		a.groupBy = append(a.groupBy, g)
		a.groupNames = append(a.groupNames, appendJSONString(nil, g))
		a.needJSON = true
	}
	for _, k := range []string{"window_start", "window_end", "other", "partial"} {
		seenKey[k] = true
	}
	specs := c.Aggregates
	if len(specs) == 0 {
		specs = []aggSpec{{Fn: "count"}}
	}
	fieldIdx := map[string]int{}
	for _, s := range specs {
		o := aggOut{field: -1}
		fn, ok := aggFns[s.Fn]
		if !ok {
			q, err := strconv.ParseFloat(strings.TrimPrefix(s.Fn, "p"), 64)
			if !strings.HasPrefix(s.Fn, "p") || err != nil || !(q > 0 && q <= 100) {
				return nil, cfg.Errorf("aggregates", "unknown function %q (want count, sum, min, max, avg, distinct or a percentile such as p50, p99, p99.9)", s.Fn)
			}
			fn, o.q = fnQuantile, q/100
		}
		o.fn = fn
		if s.Field == "" && fn != fnCount {
			return nil, cfg.Errorf("aggregates", "%s needs field:", s.Fn)
		}
		name := s.As
		if s.Field != "" {
			if err := checkPath(cfg, "aggregates", s.Field); err != nil {
				return nil, err
			}
			i, ok := fieldIdx[s.Field]
			if !ok {
				i = len(a.fields)
				fieldIdx[s.Field] = i
				a.fields = append(a.fields, aggFieldSpec{path: s.Field})
			}
			f := &a.fields[i]
			switch fn {
			case fnSum, fnMin, fnMax, fnAvg:
				f.numeric = true
			case fnQuantile:
				f.numeric, f.sketch = true, true
			case fnDistinct:
				f.distinct = true
			}
			o.field = i
			a.needJSON = true
			if name == "" {
				name = s.Fn + "_" + strings.ReplaceAll(s.Field, ".", "_")
			}
		} else if name == "" {
			name = "count"
		}
		if seenKey[name] {
			return nil, cfg.Errorf("aggregates", "output key %q is taken (by group_by, another aggregate, or the window's keys): give as:", name)
		}
		seenKey[name] = true
		o.name = appendJSONString(nil, name)
		a.outs = append(a.outs, o)
	}
	for _, f := range a.fields {
		if f.sketch {
			if !(c.RelativeAccuracy > 0 && c.RelativeAccuracy < 1) {
				return nil, cfg.Errorf("relative_accuracy", "relative_accuracy must be between 0 and 1, got %v", c.RelativeAccuracy)
			}
			m, err := mapping.NewLogarithmicMapping(c.RelativeAccuracy)
			if err != nil {
				return nil, cfg.Errorf("relative_accuracy", "relative_accuracy: %v", err)
			}
			a.mapping = m
			break
		}
	}
	a.vals = make([]aggValue, len(a.fields))
	if a.needJSON {
		paths := slices.Clone(a.groupBy)
		if a.timeField != "" {
			paths = append(paths, a.timeField)
		}
		for _, f := range a.fields {
			paths = append(paths, f.path)
		}
		a.top = newTopFields(paths)
	}
	return a, nil
}

// TickInterval implements stage.Ticker: time windows are checked on a
// clock; the other modes emit only on records and at the end.
func (a *Aggregate) TickInterval() time.Duration {
	if a.mode != modeTime || (a.event != nil && !a.idle) {
		return 0
	}
	return a.tick
}

// Tick implements stage.Ticker: it closes the windows that the clock (or,
// under event time, the watermark advanced with the clock) has passed.
func (a *Aggregate) Tick(ctx context.Context, now time.Time, emit func(*engine.Record)) error {
	if a.mode != modeTime {
		return nil
	}
	if a.event == nil {
		a.closeUntil(now.UnixNano(), emit)
		return nil
	}
	// Only a silent input advances the watermark with the clock: records
	// that keep coming (a replay, a burst) close windows by event time.
	if a.idle && a.seenEv && now.Sub(a.lastAt) >= time.Duration(a.slide) {
		a.advance(a.maxEv+int64(now.Sub(a.maxEvAt))-a.lateness, emit)
	}
	return nil
}

// advance moves the watermark to wm (never back) and closes what it passed.
func (a *Aggregate) advance(wm int64, emit func(*engine.Record)) {
	if wm > a.wm {
		a.wm = wm
		a.closeUntil(wm, emit)
	}
}

// Transform implements engine.Transformer. A record is consumed; it emits
// the results of the windows that its arrival closed (and of the group it
// evicted or completed).
func (a *Aggregate) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	a.consumed++
	if err := ctx.Err(); err != nil {
		return err
	}
	a.inTransform = true
	defer func() { a.inTransform = false }()
	// Read everything first: a record that fails changes nothing.
	a.topOK = a.top != nil && a.top.scan(r.Data)
	var t int64
	var now time.Time
	if a.mode == modeTime && (a.event == nil || a.idle) {
		now = a.now() // event time reads the clock only to advance idle windows
		t = now.UnixNano()
	}
	if a.mode == modeTime {
		if a.event != nil {
			var err error
			if t, err = a.eventTime(r.Data); err != nil {
				return err
			}
		}
	}
	if err := a.read(r.Data); err != nil {
		return err
	}
	switch a.mode {
	case modeAll:
		return a.add(0, emit)
	case modeCount:
		if err := a.add(0, emit); err != nil {
			return err
		}
		if w := a.windows[0]; w != nil {
			g := w.groups[string(a.key)]
			if g == nil {
				g = w.other
			}
			if g != nil && g.n >= a.count {
				a.emitGroup(g, emit)
				a.removeGroup(g)
			}
		}
		return nil
	}
	if a.event == nil {
		a.closeUntil(t, emit) // processing time: the clock closes windows
	}
	// The windows the record belongs to: starts s with s <= t < s+size.
	last := floorDiv(t, a.slide) * a.slide
	first := last - a.size + a.slide
	if a.event != nil {
		a.lastAt = now
		if last+a.size <= a.wm {
			return a.lateRecord(t)
		}
		if !a.seenEv || t > a.maxEv {
			// The watermark moves first (it never closes a window of
			// this record: t-lateness < the end of each).
			a.maxEv, a.maxEvAt, a.seenEv = t, now, true
			a.advance(t-a.lateness, emit)
		}
		for first+a.size <= a.wm {
			first += a.slide // closed windows get nothing
		}
	}
	if err := a.checkGroups(first, last, emit); err != nil {
		return err
	}
	for s := first; s <= last; s += a.slide {
		if err := a.add(s, emit); err != nil {
			return err
		}
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// lateRecord applies late: to a record whose windows have all closed.
func (a *Aggregate) lateRecord(t int64) error {
	switch a.late {
	case "count":
		if a.nLate == 0 {
			a.lateFirst = a.consumed
		}
		a.nLate++
	case "error":
		return fmt.Errorf("%w: event time %s is before the watermark %s (allowed_lateness %v)", ErrLateRecord,
			time.Unix(0, t).UTC().Format(time.RFC3339Nano), time.Unix(0, a.wm).UTC().Format(time.RFC3339Nano), time.Duration(a.lateness))
	}
	return nil
}

// get returns the value at path of the record data, as field does.
func (a *Aggregate) get(data []byte, path string) (gjson.Result, error) {
	if a.topOK {
		return a.top.get(path)
	}
	return field(data, path)
}

// eventTime reads the record's event time (ns since the epoch).
func (a *Aggregate) eventTime(data []byte) (int64, error) {
	v, err := a.get(data, a.timeField)
	if err != nil {
		return 0, err
	}
	var tm time.Time
	switch v.Type {
	case gjson.String:
		if a.event.rfc3339First {
			if ns, y, ok := parseRFC3339Fast(unsafe.Slice(unsafe.StringData(v.Str), len(v.Str))); ok && y >= 1678 && y <= 2261 {
				return ns, nil
			}
		}
		a.buf = append(a.buf[:0], v.Str...)
		tm, err = a.event.parse(a.buf, false)
	case gjson.Number:
		a.buf = append(a.buf[:0], v.Raw...)
		tm, err = a.event.parse(a.buf, true)
	default:
		if !v.Exists() {
			return 0, fmt.Errorf("time field %q is missing", a.timeField)
		}
		return 0, fmt.Errorf("time field %q is not a string or a number", a.timeField)
	}
	if err != nil {
		return 0, fmt.Errorf("time field %q: %w", a.timeField, err)
	}
	if y := tm.Year(); y < 1678 || y > 2261 {
		return 0, fmt.Errorf("time field %q: %s is out of range (years 1678 to 2261)", a.timeField, tm.Format(time.RFC3339))
	}
	return tm.UnixNano(), nil
}

// read computes the record's group key (a.key) and field values (a.vals).
func (a *Aggregate) read(data []byte) error {
	a.key = a.key[:0]
	if !a.needJSON {
		return nil
	}
	if !a.topOK {
		if _, err := field(data, "x"); err != nil {
			return err // not a JSON object or array
		}
	}
	for i, g := range a.groupBy {
		v, err := a.get(data, g) // a repeated key fails the record (package jsonkey)
		if err != nil {
			return err
		}
		if i > 0 {
			a.key = append(a.key, 0) // never inside JSON text
		}
		switch {
		case !v.Exists():
			a.key = append(a.key, "null"...)
		case v.Type == gjson.String:
			a.key = appendJSONString(a.key, v.Str)
		default:
			a.key = append(a.key, v.Raw...)
		}
	}
	for i, f := range a.fields {
		v, err := a.get(data, f.path)
		if err != nil {
			return err
		}
		val := aggValue{exists: v.Exists() && v.Type != gjson.Null}
		if val.exists && f.numeric {
			switch v.Type {
			case gjson.Number:
				val.num = v.Num
			case gjson.String:
				n, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64)
				if err != nil {
					return fmt.Errorf("field %q: %q is not a number", f.path, v.Str)
				}
				val.num = n
			default:
				return fmt.Errorf("field %q is not a number: %s", f.path, abbrev(v.Raw))
			}
			if math.IsNaN(val.num) || math.IsInf(val.num, 0) {
				return fmt.Errorf("field %q: %s is not a finite number", f.path, abbrev(v.Raw))
			}
		}
		if val.exists && f.distinct {
			raw := v.Raw
			if v.Type == gjson.String {
				a.buf = appendJSONString(a.buf[:0], v.Str)
				val.hash = maphash.Bytes(a.seed, a.buf)
			} else {
				val.hash = maphash.String(a.seed, raw)
			}
		}
		a.vals[i] = val
	}
	return nil
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// checkGroups makes room for the groups the record opens in windows
// first..last: under evict it emits the oldest groups; under error it
// fails the record before anything changed.
func (a *Aggregate) checkGroups(first, last int64, emit func(*engine.Record)) error {
	if a.onMax == "other" {
		return nil
	}
	need := 0
	for s := first; s <= last; s += a.slide {
		if w := a.windows[s]; w == nil || w.groups[string(a.key)] == nil {
			need++
		}
	}
	over := a.open + need - a.maxGroups
	if over <= 0 {
		return nil
	}
	if a.onMax == "error" {
		return fmt.Errorf("%w: max_groups is %d", ErrTooManyGroups, a.maxGroups)
	}
	for ; over > 0 && a.oldest() != nil; over-- {
		g := a.oldest()
		g.w.evicted = true
		a.emitGroup(g, emit)
		a.removeGroup(g)
	}
	return nil
}

// add counts the record (a.key, a.vals) in the window starting at start.
func (a *Aggregate) add(start int64, emit func(*engine.Record)) error {
	w := a.windows[start]
	if w == nil {
		w = &aggWindow{start: start, end: start + a.size, groups: map[string]*aggGroup{}}
		a.windows[start] = w
		i, _ := slices.BinarySearch(a.starts, start)
		a.starts = slices.Insert(a.starts, i, start)
	}
	g := w.groups[string(a.key)]
	if g == nil {
		if a.open >= a.maxGroups {
			switch a.onMax {
			case "error": // modeAll and modeCount come here (no checkGroups)
				return fmt.Errorf("%w: max_groups is %d", ErrTooManyGroups, a.maxGroups)
			case "evict":
				if old := a.oldest(); old != nil {
					old.w.evicted = true
					a.emitGroup(old, emit)
					a.removeGroup(old)
					w = a.windows[start] // the eviction may have emptied it (count windows)
					if w == nil {
						return a.add(start, emit)
					}
				}
			default:
				if w.other == nil {
					w.other = a.newGroup(w, "", true)
				}
				a.count1(w.other)
				return nil
			}
		}
		g = a.newGroup(w, string(a.key), false)
		w.groups[g.key] = g
		w.order = append(w.order, g)
	}
	a.count1(g)
	return nil
}

// count1 adds the record's values to g.
func (a *Aggregate) count1(g *aggGroup) {
	g.n++
	for i := range a.fields {
		v := &a.vals[i]
		if !v.exists {
			continue
		}
		spec := &a.fields[i]
		f := &g.fs[i]
		f.present++
		if spec.numeric {
			if f.present == 1 || v.num < f.min {
				f.min = v.num
			}
			if f.present == 1 || v.num > f.max {
				f.max = v.num
			}
			f.sum += v.num
			if spec.sketch {
				_ = f.sketch(a.mapping).Add(v.num) // finite numbers only: cannot fail
			}
		}
		if spec.distinct {
			if f.distinct == nil {
				f.distinct = map[uint64]struct{}{}
			}
			if len(f.distinct) < a.maxDistinct {
				f.distinct[v.hash] = struct{}{}
			}
		}
	}
}

// closeUntil emits and forgets the windows whose end is at most t.
func (a *Aggregate) closeUntil(t int64, emit func(*engine.Record)) {
	n := 0
	for _, s := range a.starts {
		w := a.windows[s]
		if w.end > t {
			break
		}
		a.emitWindow(w, emit)
		n++
	}
	if n > 0 {
		a.starts = append(a.starts[:0], a.starts[n:]...)
		a.reportLate(emit)
	}
}

// reportLate emits {"late":N,"watermark":T} when late: count counted some.
func (a *Aggregate) reportLate(emit func(*engine.Record)) {
	if a.nLate == 0 {
		return
	}
	b := strconv.AppendInt([]byte(`{"late":`), a.nLate, 10)
	b = append(b, `,"watermark":`...)
	if a.wm == math.MinInt64 {
		b = append(b, "null"...)
	} else {
		b = a.out.appendTime(b, time.Unix(0, a.wm))
	}
	a.nLate = 0
	a.emitNew(emit, append(b, '}'))
}

// emitWindow emits every group of w and forgets w.
func (a *Aggregate) emitWindow(w *aggWindow, emit func(*engine.Record)) {
	for i, g := range w.order {
		if !g.gone {
			a.emitGroup(g, emit)
			a.unlink(g)
			// What was emitted can be collected while the rest is.
			delete(w.groups, g.key)
		}
		w.order[i] = nil
	}
	if w.other != nil {
		a.emitGroup(w.other, emit)
		a.unlink(w.other)
	}
	delete(a.windows, w.start)
}

// emitNew emits a new record holding data, without metadata: a result
// belongs to no one input record, so one emitted during Transform must not
// inherit the metadata of the record that closed its window (an empty Meta
// says so; at a tick or a flush there is nothing to inherit).
func (a *Aggregate) emitNew(emit func(*engine.Record), data []byte) {
	r := engine.NewRecord(data)
	if a.inTransform {
		r.Meta = map[string]string{}
	}
	emit(r)
}

// emitGroup emits g's result.
func (a *Aggregate) emitGroup(g *aggGroup, emit func(*engine.Record)) {
	b := append(a.render[:0], '{')
	if a.mode == modeTime {
		b = append(b, `"window_start":`...)
		b = a.out.appendTime(b, time.Unix(0, g.w.start))
		b = append(b, `,"window_end":`...)
		b = a.out.appendTime(b, time.Unix(0, g.w.end))
		b = append(b, ',')
	}
	if g.other {
		b = append(b, `"other":true,`...)
	} else {
		rest := g.key
		for i, name := range a.groupNames {
			v := rest
			if i < len(a.groupNames)-1 {
				j := strings.IndexByte(rest, 0)
				v, rest = rest[:j], rest[j+1:]
			}
			b = append(b, name...)
			b = append(b, ':')
			b = append(b, v...)
			b = append(b, ',')
		}
	}
	if g.w.evicted {
		b = append(b, `"partial":true,`...)
	}
	for i, o := range a.outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, o.name...)
		b = append(b, ':')
		b = a.appendResult(b, g, o)
	}
	a.render = append(b, '}')
	a.emitNew(emit, bytes.Clone(a.render)) // its exact size: a flush may emit many
}

// appendResult appends the value of one aggregate of g.
func (a *Aggregate) appendResult(b []byte, g *aggGroup, o aggOut) []byte {
	if o.field < 0 {
		return strconv.AppendInt(b, g.n, 10)
	}
	f := &g.fs[o.field]
	switch o.fn {
	case fnCount:
		return strconv.AppendInt(b, f.present, 10)
	case fnDistinct:
		return strconv.AppendInt(b, int64(len(f.distinct)), 10)
	}
	if f.present == 0 {
		return append(b, "null"...)
	}
	switch o.fn {
	case fnSum:
		return appendAggNumber(b, f.sum)
	case fnMin:
		return appendAggNumber(b, f.min)
	case fnMax:
		return appendAggNumber(b, f.max)
	case fnAvg:
		return appendAggNumber(b, f.sum/float64(f.present))
	}
	v, err := f.sk.GetValueAtQuantile(o.q)
	if err != nil {
		return append(b, "null"...)
	}
	// The sketch's value is within the relative accuracy of a true one;
	// it never lies outside the values seen.
	return appendAggNumber(b, min(max(v, f.min), f.max))
}

// appendAggNumber appends v as a JSON number (as encoding/json writes it); a
// sum that overflowed is null.
func appendAggNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// Retained implements stage.Retainer: the records given since the first
// record of the group open longest (groups open in the order of their
// first records), or since the first late record not reported yet. The
// engine holds their input records' acknowledgements until the windows
// holding them were emitted and written.
func (a *Aggregate) Retained() int64 {
	first := int64(0)
	if g := a.oldest(); g != nil {
		first = g.first
	}
	if a.nLate > 0 && (first == 0 || a.lateFirst < first) {
		first = a.lateFirst
	}
	if first == 0 {
		return 0
	}
	return a.consumed - first + 1
}

// Flush implements engine.Flusher: every open window is emitted, oldest
// first.
func (a *Aggregate) Flush(ctx context.Context, emit func(*engine.Record)) error {
	if a.emitEmpty && len(a.windows) == 0 {
		a.emitNew(emit, []byte(`{"count":0}`))
	}
	a.closeUntil(math.MaxInt64, emit)
	a.reportLate(emit)
	return nil
}

var (
	_ engine.Transformer = (*Aggregate)(nil)
	_ engine.Flusher     = (*Aggregate)(nil)
	_ engine.Ticker      = (*Aggregate)(nil)
	_ engine.Retainer    = (*Aggregate)(nil)
)
