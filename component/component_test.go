package component_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/component"
)

type size int64

func (size) ConfigType() string { return component.Size }

type common struct {
	Codec string `yaml:"codec" enum:"lines,ndjson" default:"lines" doc:"The codec."`
}

type sample struct {
	Name    string            `yaml:"name" required:"true" example:"x" doc:"A name."`
	Timeout *time.Duration    `yaml:"timeout" default:"5s" doc:"A timeout."`
	Limit   *size             `yaml:"limit" doc:"A size."`
	Tags    []string          `yaml:"tags" enum:"a,b" doc:"Tags."`
	Env     map[string]string `yaml:"env" doc:"Variables."`
	Rate    float64           `yaml:"rate" doc:"A rate."`
	Count   uint              `yaml:"count" doc:"A count."`
	On      bool              `yaml:"on" doc:"A switch."`
	Any     any               `yaml:"any" doc:"Anything."`
	Nested  struct {
		Deep int `yaml:"deep" doc:"Deeper."`
	} `yaml:"nested" doc:"A mapping."`
	common  `yaml:",inline"`
	Skipped string `yaml:"-"`
	//lint:ignore U1000 an unexported field, which FieldsOf must skip
	private string
	Rest    struct{} `yaml:",remain"`
}

func TestFieldsOf(t *testing.T) {
	fs := component.FieldsOf(sample{})
	got := map[string]string{}
	var names []string
	for _, f := range fs {
		got[f.Name] = f.TypeName()
		names = append(names, f.Name)
	}
	want := map[string]string{"name": "string", "timeout": "duration", "limit": "size", "tags": "list of string",
		"env": "map of string", "rate": "number", "count": "integer", "on": "boolean", "any": "any", "nested": "object", "codec": "string"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("types = %v\nwant %v", got, want)
	}
	if strings.Join(names, ",") != "name,timeout,limit,tags,env,rate,count,on,any,nested,codec" {
		t.Errorf("order = %v, want the struct's", names)
	}
	s := component.New(component.ClassNative, "sample", "a sample", &sample{})
	if !s.Open {
		t.Error("a struct with a ,remain field is not open")
	}
	name, _ := s.Lookup("name")
	if !name.Required || name.Example != "x" || name.Doc != "A name." {
		t.Errorf("name = %+v", name)
	}
	codec, _ := s.Lookup("codec")
	if codec.Default != "lines" || !reflect.DeepEqual(codec.Enum, []string{"lines", "ndjson"}) {
		t.Errorf("codec = %+v", codec)
	}
	nested, _ := s.Lookup("nested")
	if len(nested.Fields) != 1 || nested.Fields[0].Name != "deep" || nested.Fields[0].Type != component.Integer {
		t.Errorf("nested = %+v", nested)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if open := component.New(component.ClassNative, "x", "y", nil); !open.Open || len(open.Fields) != 0 {
		t.Errorf("nil config: %+v", open)
	}
}

func TestCheck(t *testing.T) {
	type bad struct {
		A string `yaml:"a"`
		B string `yaml:"b" enum:"x,y" default:"z" doc:"b"`
		C string `yaml:"c" required:"true" default:"q" doc:"c"`
	}
	err := component.New(component.ClassKind, "k", "", bad{}).Check()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"no summary", "field a has no doc", `default "z" is not in its enum`, "field c is required and has a default"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
}

func TestRender(t *testing.T) {
	s := component.New(component.ClassNative, "sample", "a sample", sample{})
	s.Examples = []component.Example{{Title: "use it", YAML: "- {name: s, type: native, use: sample}"}}
	md := s.Markdown()
	for _, want := range []string{"# native transformer sample", "| `name` | string | required | - | `x` | A name. |",
		"| `nested.deep` | integer |", "| `codec` | string | `lines` | `lines`, `ndjson` |", "Use it:", "```yaml\n- {name: s"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"native transformer sample: a sample", "NAME", "timeout", "5s", "(required)", "Example: use it"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	idx := component.Index([]component.Spec{s})
	if !strings.Contains(idx, "[sample](native-sample.md)") {
		t.Errorf("index: %s", idx)
	}
}

func Example() {
	type caseConfig struct {
		To    string `yaml:"to" required:"true" enum:"upper,lower" doc:"The case to convert to."`
		Field string `yaml:"field" example:"msg" doc:"A JSON string field to convert; the whole record if empty."`
	}
	spec := component.New(component.ClassNative, "case", "upper- or lower-case records", caseConfig{})
	spec.WriteText(os.Stdout)
	// Output:
	// native transformer case: upper- or lower-case records
	//
	//   {type: native, use: case, config: {...}}
	//
	// Options (config: fields):
	//
	//   NAME   TYPE    DEFAULT     VALUES        EXAMPLE  DESCRIPTION
	//   to     string  (required)  upper, lower  -        The case to convert to.
	//   field  string  -           -             msg      A JSON string field to convert; the whole record if empty.
}
