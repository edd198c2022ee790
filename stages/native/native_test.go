package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

func build(t *testing.T, yaml string) (*engine.Pipeline, error) {
	t.Helper()
	spec, err := engine.Parse([]byte(yaml), "t.yaml")
	if err != nil {
		return nil, err // the config is checked against the transformer's spec when parsed
	}
	return engine.Build(spec)
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ use, config, msg string }{
		{"grep", "{}", `missing required field "pattern"`},
		{"grep", "{pattern: 'a[', invert: true}", "invalid regexp"},
		{"grep", "{pattern: a, field: 'a.*'}", "wildcards"},
		{"replace", "{pattern: a}", `missing required field "with"`},
		{"replace", "{pattern: '(?P<x', with: b}", "invalid regexp"},
		{"case", "{}", `missing required field "to" (upper or lower)`},
		{"case", "{to: title}", `to must be upper or lower, got "title"`},
		{"trim", "{field: 'a..b'}", "empty segment"},
		{"select", "{field: a}", "needs a condition"},
		{"select", "{equals: 1}", `missing required field "field"`},
		{"select", "{field: a, matches: '('}", "invalid regexp"},
		{"select", "{field: a, gt: high}", "expected a number"},
		{"set", "{}", "set needs fields"},
		{"set", "{fields: {'a|b': 1}}", "wildcards"},
		{"delete", "{}", "delete needs fields"},
		{"rename", "{fields: {a: ''}}", "must not be empty"},
		{"explode", "{as: x}", `missing required field "field"`},
		{"limit", "{}", `missing required field "count"`},
		{"limit", "{count: -1}", "limit needs count"},
		{"sample", "{}", "needs rate"},
		{"sample", "{rate: 2}", "between 0 and 1"},
		{"sample", "{rate: 0.5, every: 2}", "not both"},
		{"dedupe", "{capacity: -5}", "capacity must be"},
		{"count", "{max_keys: -1}", "max_keys must be"},
		{"count", "{by: x, bogus: 1}", `unknown field "bogus"`},
	}
	for _, c := range cases {
		t.Run(c.use+" "+c.config, func(t *testing.T) {
			_, err := build(t, fmt.Sprintf("stages:\n  - name: s\n    type: native\n    use: %s\n    config: %s\n", c.use, c.config))
			var ce *engine.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(ce.Msg, c.msg) {
				t.Fatalf("err = %v, want a config error containing %q", err, c.msg)
			}
			if ce.Line < 5 || ce.File != "t.yaml" {
				t.Errorf("error not positioned in the config: %v", err)
			}
		})
	}
}

func run(t *testing.T, yaml, in string) (string, error) {
	t.Helper()
	p, err := build(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = p.RunReader(context.Background(), strings.NewReader(in), &out)
	return out.String(), err
}

func TestRecordBehaviour(t *testing.T) {
	cases := []struct {
		name, yaml, in, out, err string
	}{
		{"field on non-JSON fails the record", "stages: [{name: s, type: native, use: select, config: {field: a, exists: true}}]",
			"not json\n", "", "record 1: record is not a JSON value"},
		{"field on non-JSON dropped by policy", "stages: [{name: s, type: native, use: grep, on_error: drop, config: {field: a, pattern: x}}]",
			"plain\n{\"a\":\"x\"}\n", "{\"a\":\"x\"}\n", ""},
		{"explode a non-array fails", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: explode, config: {field: t}}]",
			"{\"t\":[1]}\n{\"t\":3}\n", "{\"t\":1}\n", "record 2: field t is not an array"},
		{"explode without as replaces the field", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: explode, config: {field: t}}]",
			"{\"t\":[1,{\"x\":2}],\"k\":0}\n", "{\"t\":1,\"k\":0}\n{\"t\":{\"x\":2},\"k\":0}\n", ""},
		{"dedupe forgets beyond capacity", "stages: [{name: s, type: native, use: dedupe, config: {capacity: 2}}]",
			"a\nb\na\nc\na\nb\n", "a\nb\nc\na\nb\n", ""},
		{"select equals number and bool", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: select, config: {field: n, equals: 2}}]",
			"{\"n\":2}\n{\"n\":2.0}\n{\"n\":\"2\"}\n{\"n\":3}\n", "{\"n\":2}\n{\"n\":2.0}\n", ""},
		{"select not_equals keeps missing", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: select, config: {field: l, not_equals: debug}}]",
			"{\"l\":\"debug\"}\n{\"l\":\"info\"}\n{}\n", "{\"l\":\"info\"}\n{}\n", ""},
		{"select matches nested", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: select, config: {field: u.n, matches: '^a'}}]",
			"{\"u\":{\"n\":\"ada\"}}\n{\"u\":{\"n\":\"bob\"}}\n", "{\"u\":{\"n\":\"ada\"}}\n", ""},
		{"case keeps non-string fields", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: case, config: {field: n, to: upper}}]",
			"{\"n\":1}\n{\"n\":\"é\"}\n", "{\"n\":1}\n{\"n\":\"É\"}\n", ""},
		{"count without by", "stages: [{name: s, type: native, use: count}]", "a\nb\n", "{\"count\":2}\n", ""},
		{"count max_keys", "input: {codec: ndjson}\nstages: [{name: s, type: native, use: count, config: {by: k, max_keys: 1}}]",
			"{\"k\":1}\n{\"k\":2}\n{\"k\":1}\n{\"k\":3}\n", "{\"k\":1,\"count\":2}\n{\"other\":true,\"count\":2}\n", ""},
		{"grep invert", "stages: [{name: s, type: native, use: grep, config: {pattern: '^#', invert: true}}]",
			"#c\nx\n", "x\n", ""},
		{"replace groups", "stages: [{name: s, type: native, use: replace, config: {pattern: '(\\w+)@(\\w+)', with: '$2 at $1'}}]",
			"ada@home\n", "home at ada\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(t, c.yaml, c.in)
			if c.err == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
			if out != c.out {
				t.Errorf("out = %q, want %q", out, c.out)
			}
		})
	}
}

func TestSampleRate(t *testing.T) {
	var in strings.Builder
	for i := range 20000 {
		fmt.Fprintln(&in, i)
	}
	yaml := "stages: [{name: s, type: native, use: sample, config: {rate: 0.25, seed: 7}}]"
	a, err := run(t, yaml, in.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := run(t, yaml, in.String())
	if a != b {
		t.Error("same seed, different samples")
	}
	n := strings.Count(a, "\n")
	if n < 4500 || n > 5500 {
		t.Errorf("kept %d of 20000 at rate 0.25", n)
	}
}

func TestCaseASCIIAndUnicode(t *testing.T) {
	all := make([]byte, 0, 256)
	for c := 0x20; c < 0x7f; c++ {
		all = append(all, byte(c))
	}
	for _, s := range []string{string(all), "short", "abcdefgh", "ABCDEFGHijklmnop@[`{", "mixed ascii then ümlaut later in the line", "ä"} {
		for _, to := range []string{"upper", "lower"} {
			out, err := run(t, "stages: [{name: s, type: native, use: case, config: {to: "+to+"}}]", s+"\n")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ToUpper(s)
			if to == "lower" {
				want = strings.ToLower(s)
			}
			if out != want+"\n" {
				t.Errorf("%s(%q) = %q, want %q", to, s, out, want)
			}
		}
	}
}

// explode's byte-splicing fast paths give the same records as sjson would.
func TestExplodeShapes(t *testing.T) {
	cases := []struct{ config, in, out string }{
		{"{field: t, as: x}", `{"t":[1,"a",{"k":[2]}],"b":true}`, "{\"b\":true,\"x\":1}\n{\"b\":true,\"x\":\"a\"}\n{\"b\":true,\"x\":{\"k\":[2]}}\n"},
		{"{field: t, as: x}", `{"t":[1]}`, "{\"x\":1}\n"},
		{"{field: t, as: x}", `{ "t" : [1] , "x": 0 }`, "{ \"x\": 1 }\n"},
		{"{field: t}", `{"a":0,"t":[1,2],"z":3}`, "{\"a\":0,\"t\":1,\"z\":3}\n{\"a\":0,\"t\":2,\"z\":3}\n"},
		{"{field: o.t, as: o.x}", `{"o":{"t":[1]}}`, "{\"o\":{\"x\":1}}\n"},
		{"{field: t, as: 'we\"ird'}", `{"t":[1]}`, "{\"we\\\"ird\":1}\n"},
		{"{field: t, as: x}", `{"a":1, "t" : [1] ,"b":2}`, "{\"a\":1,\"b\":2,\"x\":1}\n"},
		{"{field: t, as: x}", `{"t":[1],"b":{"t":[9]}}`, "{\"b\":{\"t\":[9]},\"x\":1}\n"},
		{"{field: t, as: x}", `{"b":"say \"x\" here","t":[1]}`, "{\"b\":\"say \\\"x\\\" here\",\"x\":1}\n"},
		{"{field: t, as: x}", `{"a\"t":0,"t":[1]}`, "{\"a\\\"t\":0,\"x\":1}\n"},
	}
	for _, c := range cases {
		out, err := run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: explode, config: "+c.config+"}]", c.in+"\n")
		if err != nil {
			t.Fatalf("%s: %v", c.config, err)
		}
		if !sameJSONLines(out, c.out) {
			t.Errorf("%s on %s:\n got %q\nwant %q", c.config, c.in, out, c.out)
		}
	}
}

// sameJSONLines compares two outputs record by record as JSON values.
func sameJSONLines(a, b string) bool {
	la, lb := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		var x, y any
		if json.Unmarshal([]byte(la[i]), &x) != nil || json.Unmarshal([]byte(lb[i]), &y) != nil || !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
