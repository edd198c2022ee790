package native

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "select", New: newSelect, Config: selectConfig{},
		Summary: "keep JSON records whose field equals / not_equals / matches / gt / gte / lt / lte a value, or exists",
		Doc: "Give at least one condition; with several, all must hold (`gte` and `lt` make a range). Strings compare with " +
			"strings, numbers by their exact decimal value (9007199254740993 is not 9007199254740992, 1.0 is 1), booleans and null exactly, lists and mappings by their JSON value. A record that " +
			"is not JSON fails (use codec: ndjson).",
		Examples: []component.Example{
			{Title: "keep errors", YAML: "- {name: only-errors, type: native, use: select, config: {field: level, equals: error}}"},
			{Title: "keep slow requests", YAML: "- {name: slow, type: native, use: select, config: {field: latency_ms, gte: 500}}"},
		}})
}

type selectConfig struct {
	Field     string   `yaml:"field" example:"level" doc:"Dotted path of the JSON field to test (or meta:)."`
	Meta      string   `yaml:"meta" example:"source" doc:"Test this metadata key's value instead of a JSON field (a value that reads as a number compares as one); the record need not be JSON."`
	Equals    any      `yaml:"equals" example:"error" doc:"Keep records whose field equals this value."`
	NotEquals any      `yaml:"not_equals" example:"debug" doc:"Keep records whose field does not equal this value."`
	Matches   string   `yaml:"matches" example:"'^5[0-9][0-9]$'" doc:"Keep records whose field's text matches this regular expression."`
	GT        *float64 `yaml:"gt" example:"100" doc:"Keep records whose field is a number greater than this."`
	GTE       *float64 `yaml:"gte" example:"100" doc:"Keep records whose field is a number greater than or equal to this."`
	LT        *float64 `yaml:"lt" example:"100" doc:"Keep records whose field is a number less than this."`
	LTE       *float64 `yaml:"lte" example:"100" doc:"Keep records whose field is a number less than or equal to this."`
	Exists    *bool    `yaml:"exists" example:"true" doc:"Keep records that have (true) or lack (false) the field."`
}

// Select keeps the JSON records whose field satisfies one condition.
type Select struct {
	field string
	top   topKey // field as a top-level key (fast lookup), when it is one
	meta  string // a metadata key, tested instead of field
	test  func(gjson.Result) bool
	// eqStr: the only condition is equals of this string (eq true), so
	// the fast path compares a plain string value's bytes with it
	// instead of parsing the value.
	eqStr string
	eq    bool
	// eqPlain: eqStr holds no backslash (see equalsPlain).
	eqPlain bool
}

func newSelect(cfg engine.Config) (engine.Transformer, error) {
	var c selectConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	switch {
	case c.Meta != "" && c.Field != "":
		return nil, cfg.Errorf("meta", "select tests a field: or a meta: key, not both")
	case c.Meta == "" && c.Field == "":
		return nil, cfg.Errorf("", "missing required field \"field\" (or meta: KEY to test a metadata value)")
	case c.Meta == "":
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	var tests []func(gjson.Result) bool
	if c.Equals != nil {
		eq, err := equalTo(cfg, "equals", c.Equals)
		if err != nil {
			return nil, err
		}
		tests = append(tests, eq)
	}
	if c.NotEquals != nil {
		eq, err := equalTo(cfg, "not_equals", c.NotEquals)
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(v gjson.Result) bool { return !eq(v) })
	}
	if c.Matches != "" {
		re, err := compile(cfg, "matches", c.Matches)
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(v gjson.Result) bool { return v.Exists() && matchValue(re, v) })
	}
	num := func(bound *float64, ok func(cmp int) bool) {
		if bound == nil {
			return
		}
		n, _ := numberOf(*bound)
		tests = append(tests, func(v gjson.Result) bool { return v.Type == gjson.Number && ok(n.cmp(v)) })
	}
	num(c.GT, func(c int) bool { return c > 0 })
	num(c.GTE, func(c int) bool { return c >= 0 })
	num(c.LT, func(c int) bool { return c < 0 })
	num(c.LTE, func(c int) bool { return c <= 0 })
	if c.Exists != nil {
		want := *c.Exists
		tests = append(tests, func(v gjson.Result) bool { return v.Exists() == want })
	}
	if len(tests) == 0 {
		return nil, cfg.Errorf("", "select needs a condition: equals, not_equals, matches, gt, gte, lt, lte or exists")
	}
	s := &Select{field: c.Field, top: newTopKey(c.Field), meta: c.Meta, test: tests[0]}
	if w, ok := c.Equals.(string); ok && len(tests) == 1 {
		s.eqStr, s.eq, s.eqPlain = w, true, !strings.Contains(w, `\`)
	}
	if len(tests) > 1 { // all conditions must hold (e.g. gte and lt for a range)
		s.test = func(v gjson.Result) bool {
			for _, t := range tests {
				if !t(v) {
					return false
				}
			}
			return true
		}
	}
	return s, nil
}

func matchValue(re *regexp.Regexp, v gjson.Result) bool { return re.MatchString(fieldText(v)) }

// equalTo returns a test comparing a JSON value with a YAML value: strings
// with strings, numbers by their exact value, booleans and null exactly,
// lists and mappings by their JSON value (jsonEqual).
func equalTo(cfg engine.Config, key string, want any) (func(gjson.Result) bool, error) {
	switch w := want.(type) {
	case string:
		return func(v gjson.Result) bool { return v.Type == gjson.String && v.Str == w }, nil
	case bool:
		return func(v gjson.Result) bool { return (v.Type == gjson.True || v.Type == gjson.False) && v.Bool() == w }, nil
	case int, int64, uint64, float64:
		n, _ := numberOf(w)
		return func(v gjson.Result) bool { return v.Type == gjson.Number && n.cmp(v) == 0 }, nil
	case map[string]any, []any:
		b, err := json.Marshal(w)
		if err != nil {
			return nil, cfg.Errorf(key, "%v", err)
		}
		canon := gjson.ParseBytes(b)
		return func(v gjson.Result) bool { return jsonEqual(v, canon) }, nil
	}
	return nil, cfg.Errorf(key, "cannot compare with %v (%T)", want, want)
}

// Transform implements engine.Transformer.
func (s *Select) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	var v gjson.Result
	switch {
	case s.meta != "":
		v = metaValue(r, s.meta)
	case s.top.key != "":
		vs, ve, found, ok := s.top.lookup(r.Data)
		if ok && s.eq {
			if keep, known := s.equalsPlain(r.Data, vs, ve, found); known {
				if keep {
					emit(r)
				}
				return nil
			}
		}
		if ok {
			if found {
				v = view(r.Data[vs:ve]) // tested here and let go
			}
			break
		}
		fallthrough
	default:
		var err error
		if v, err = field(r.Data, s.field); err != nil {
			return err
		}
	}
	if s.test(v) {
		emit(r)
	}
	return nil
}

// equalsPlain decides equals: s.eqStr for the value data[vs:ve] that
// lookup found (or did not) without parsing it, when the value is not a
// string (never equal) or a string without escapes (its bytes are its
// text, as gjson gives it); known is false for a string with escapes.
func (s *Select) equalsPlain(data []byte, vs, ve int, found bool) (keep, known bool) {
	if !found {
		return false, true
	}
	raw := data[vs:ve]
	if raw[0] != '"' {
		return false, true
	}
	str := raw[1 : len(raw)-1]
	if len(str) <= len(s.eqStr) && s.eqPlain {
		// An escape makes a string's text shorter than its JSON (\n
		// is one byte, \u00e9 two), so a string this short equals
		// eqStr, which has no backslash, only as the same bytes.
		return string(str) == s.eqStr, true
	}
	if bytes.IndexByte(str, '\\') >= 0 {
		return false, false
	}
	return string(str) == s.eqStr, true
}

// JSONOutput implements engine.JSONOutput: select emits its input record
// unchanged.
func (s *Select) JSONOutput() engine.JSONGuarantee { return engine.JSONPreserved }

// ConditionField implements engine.FieldCondition: a switch case looks
// the field up once for all its cases.
func (s *Select) ConditionField() string {
	if s.meta != "" {
		return ""
	}
	return s.field
}

// TestField implements engine.FieldCondition.
func (s *Select) TestField(r *engine.Record, raw string) (bool, error) {
	if err := jsonkey.Path(r.Data, s.field); err != nil {
		return false, err
	}
	return s.test(gjson.Parse(raw)), nil
}

// metaValue returns metadata key k of r as a value select can test: a
// number when it reads as one (so gt, lt and equals: 500 work), else a
// string; absent when r has no such key.
func metaValue(r *engine.Record, k string) gjson.Result {
	v, ok := r.Lookup(k)
	if !ok {
		return gjson.Result{}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return gjson.Result{Type: gjson.Number, Num: f, Raw: v}
	}
	return gjson.Result{Type: gjson.String, Str: v, Raw: strconv.Quote(v)}
}

var (
	_ engine.Transformer    = (*Select)(nil)
	_ engine.FieldCondition = (*Select)(nil)
	_ engine.JSONOutput     = (*Select)(nil)
)
