package rpcplugin_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

type limits struct {
	Max   int           `yaml:"max"`
	Every time.Duration `yaml:"every"`
}

type opts struct {
	Name    string            `yaml:"name"`
	Count   uint8             `yaml:"count"`
	Ratio   float64           `yaml:"ratio"`
	On      bool              `yaml:"on"`
	Tags    []string          `yaml:"tags"`
	Labels  map[string]string `yaml:"labels"`
	Limits  *limits           `yaml:"limits"`
	Any     any               `yaml:"any"`
	Nested  stage.Config      `yaml:"nested"`
	Skipped string            `yaml:"-"`
}

func TestConfigDecode(t *testing.T) {
	for _, tt := range []struct {
		name, json string
		want       opts
		err        string // substring of the error; "" for none
	}{
		{"empty", ``, opts{}, ""},
		{"null", `null`, opts{}, ""},
		{"all fields", `{"name":"n","count":7,"ratio":0.5,"on":true,"tags":["a","b"],"labels":{"k":"v"},"limits":{"max":3,"every":"250ms"},"any":{"x":[1,2.5]}}`,
			opts{Name: "n", Count: 7, Ratio: 0.5, On: true, Tags: []string{"a", "b"}, Labels: map[string]string{"k": "v"},
				Limits: &limits{Max: 3, Every: 250 * time.Millisecond}, Any: map[string]any{"x": []any{1, 2.5}}}, ""},
		{"number into string", `{"name":42}`, opts{Name: "42"}, ""},
		{"zero duration", `{"limits":{"every":0}}`, opts{Limits: &limits{}}, ""},
		{"unknown field", `{"nmae":"x"}`, opts{}, `unknown field "nmae" (did you mean "name"?); known fields: any, count, labels`},
		{"nested unknown field", `{"limits":{"mx":1}}`, opts{}, `limits: unknown field "mx"`},
		{"wrong type", `{"limits":{"max":"ten"}}`, opts{}, `limits.max: expected an integer, got "ten"`},
		{"float for int", `{"limits":{"max":1.5}}`, opts{}, `limits.max: expected an integer, got the number 1.5`},
		{"out of range", `{"count":300}`, opts{}, `count: expected a non-negative integer in range, got 300`},
		{"bad duration", `{"limits":{"every":"soon"}}`, opts{}, `limits.every: invalid duration "soon"`},
		{"negative duration", `{"limits":{"every":"-1s"}}`, opts{}, `must not be negative`},
		{"list element", `{"tags":["a",1,{}]}`, opts{}, `tags[2]: expected a string, got a mapping`},
		{"bool", `{"on":"yes"}`, opts{}, `on: expected true or false, got "yes"`},
		{"not a mapping", `[1]`, opts{}, `expected a mapping, got a list`},
		{"skipped field is unknown", `{"Skipped":"x"}`, opts{}, `unknown field "Skipped"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := rpcplugin.ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var got opts
			err = c.Decode(&got)
			if tt.err != "" {
				var ce *stage.ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode = %v, want a *stage.ConfigError containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Nested = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigNestedAndErrorf(t *testing.T) {
	c := rpcplugin.ConfigOf(map[string]any{"nested": map[string]any{"b": 1, "a": "x"}, "name": "n"})
	var o opts
	if err := c.Decode(&o); err != nil {
		t.Fatal(err)
	}
	if o.Nested == nil || !reflect.DeepEqual(o.Nested.Keys(), []string{"a", "b"}) {
		t.Fatalf("nested config %v, want keys a, b", o.Nested)
	}
	var n struct {
		A string `yaml:"a"`
	}
	err := o.Nested.Decode(&n)
	if err == nil || !strings.Contains(err.Error(), `nested: unknown field "b"`) {
		t.Errorf("nested Decode = %v, want the key path nested in the error", err)
	}
	cause := errors.New("too big")
	err = o.Nested.Errorf("a", "bad value: %v", cause)
	var ce *stage.ConfigError
	if !errors.As(err, &ce) || ce.Msg != "nested.a: bad value: too big" || !errors.Is(err, cause) {
		t.Errorf("Errorf = %#v, want nested.a and the cause", err)
	}
	if err := c.Errorf("missing", "x"); err.Error() != "x" {
		t.Errorf("Errorf of an absent key at the root = %q, want %q", err, "x")
	}
	if c.IsZero() || !rpcplugin.ConfigOf(map[string]any{}).IsZero() || !(rpcplugin.Config{}).IsZero() {
		t.Error("IsZero is wrong")
	}
	js, err := c.JSON()
	if err != nil || string(js) != `{"name":"n","nested":{"a":"x","b":1}}` {
		t.Errorf("JSON = %s, %v", js, err)
	}
	v, err := c.Value()
	if err != nil || !reflect.DeepEqual(v, map[string]any{"name": "n", "nested": map[string]any{"a": "x", "b": 1}}) {
		t.Errorf("Value = %#v, %v", v, err)
	}
	if f, l, col := c.Position(); f != "" || l != 0 || col != 0 {
		t.Errorf("Position = %s:%d:%d, want none", f, l, col)
	}
	if err := c.Decode(o); err == nil {
		t.Error("Decode into a non-pointer succeeded")
	}
	if _, err := rpcplugin.ParseConfig([]byte(`{"a":`)); err == nil {
		t.Error("ParseConfig accepted broken JSON")
	}
}

func TestConfigRemain(t *testing.T) {
	var o struct {
		Name string       `yaml:"name"`
		Rest stage.Config `yaml:",remain"`
	}
	if err := rpcplugin.ConfigOf(map[string]any{"name": "n", "x": 1, "y": true}).Decode(&o); err != nil {
		t.Fatal(err)
	}
	if o.Name != "n" || o.Rest == nil || !reflect.DeepEqual(o.Rest.Keys(), []string{"x", "y"}) {
		t.Errorf("got name %q, rest %v", o.Name, o.Rest)
	}
}
