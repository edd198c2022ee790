package all_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/jsonschema"
	_ "github.com/pipe-dev/pipe/stages/all"
	"gopkg.in/yaml.v3"
)

// schema compiles the JSON Schema that `pipe schema` prints for a binary
// with every kind compiled in.
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := engine.PipelineSchema(engine.DefaultRegistry)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("pipeline.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("pipeline.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

// validate checks a YAML document as an editor with the schema would.
func validate(t *testing.T, sch *jsonschema.Schema, doc []byte) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// Every example pipeline validates against the schema, as in an editor.
func TestSchemaAcceptsExamplePipelines(t *testing.T) {
	sch := schema(t)
	files, _ := filepath.Glob("../../pipelines/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example pipelines")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch, data); err != nil {
			t.Errorf("%s: rejected by the schema: %v", f, err)
		}
	}
}

// The schema knows each native transformer's config and each kind's
// fields, so an editor flags a typo inside config: or a field of another
// kind.
func TestSchemaChecksComponentFields(t *testing.T) {
	sch := schema(t)
	cases := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"select equals", "stages: [{name: a, type: native, use: select, config: {field: level, equals: error}}]", true},
		{"select equal (typo)", "stages: [{name: a, type: native, use: select, config: {field: level, equal: error}}]", false},
		{"select equal, type from use", "stages: [{name: a, use: select, config: {field: level, equal: error}}]", false},
		// select takes field: or meta: (one of them, checked when the stage
		// is built); case's to: is required outright.
		{"case without its required field", "stages: [{name: a, type: native, use: case, config: {field: msg}}]", false},
		{"case without config", "stages: [{name: a, type: native, use: case}]", false},
		{"case to: title", "stages: [{name: a, type: native, use: case, config: {to: title}}]", false},
		{"case to: upper", "stages: [{name: a, type: native, use: case, config: {to: upper}}]", true},
		{"count max_keys type", "stages: [{name: a, type: native, use: count, config: {max_keys: many}}]", false},
		{"lua modules", "stages: [{name: a, type: lua, code: 'return rec', modules: [lib], allow: [os]}]", true},
		{"lua modulez", "stages: [{name: a, type: lua, code: 'return rec', modulez: [lib]}]", false},
		{"lua allow a wasm grant", "stages: [{name: a, type: lua, code: 'return rec', allow: [clock]}]", false},
		{"wasm memory_limit", "stages: [{name: a, type: wasm, path: x.wasm, memory_limit: 16MiB, allow: [clock]}]", true},
		{"memory_limit on js", "stages: [{name: a, type: js, code: 'return rec', memory_limit: 16MiB}]", true},
		{"max_restarts on js", "stages: [{name: a, type: js, code: 'return rec', max_restarts: 3}]", false},
		{"rpc fields", "stages: [{name: a, type: rpc, path: ./p, args: [--fast], max_restarts: 3, start_timeout: 2s, env: {A: b}}]", true},
		{"rpc max_restarts type", "stages: [{name: a, type: rpc, path: ./p, max_restarts: often}]", false},
		{"input file needs path", "input: {type: file}", false},
		{"stdin takes no path", "input: {type: stdin, path: x}", false},
		{"output file", "output: {type: file, path: out.txt, codec: ndjson}", true},
		{"unknown codec", "input: {codec: xml}", false},
		{"csv codec with columns", "input: {codec: csv, csv: {columns: [a, b]}}", true},
		{"tests", "tests: [{name: t, input: ['a', {json: {x: 1}, meta: {k: v}}], expect: [{data: A}], dropped: 0}]", true},
		{"tests typo", "tests: [{name: t, inputs: [a]}]", false},
	}
	for _, c := range cases {
		err := validate(t, sch, []byte(c.doc))
		if c.valid && err != nil {
			t.Errorf("%s: rejected: %v", c.name, err)
		}
		if !c.valid && err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}
