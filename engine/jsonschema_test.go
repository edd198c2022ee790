package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipe-dev/pipe/internal/jsonschema"
	"gopkg.in/yaml.v3"
)

// The schema of `pipe schema` accepts the example pipelines and rejects
// what the loader rejects (unknown fields, wrong types, bad enums).
func TestPipelineSchema(t *testing.T) {
	reg := NewRegistry()
	b, err := PipelineSchema(reg)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("pipeline.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("pipeline.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	check := func(name string, doc []byte, valid bool) {
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v = normalize(v)
		raw, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		err = sch.Validate(inst)
		if valid && err != nil {
			t.Errorf("%s: rejected by the schema: %v", name, err)
		}
		if !valid && err == nil {
			t.Errorf("%s: accepted by the schema", name)
		}
	}
	files, _ := filepath.Glob("../pipelines/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example pipelines")
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		check(f, data, true)
	}
	check("full", []byte("name: x\ninput: {type: file, path: a, codec: ndjson, max_record_bytes: 2MiB, validate_utf8: true}\n"+
		"dead_letter: {path: d}\ndefaults: {timeout: 250ms, workers: 2, on_error: drop}\n"+
		"stages:\n  - {name: a, type: native, use: x, timeout: 0, schema: {type: object}}\n"), true)
	check("a field the native kind does not have", []byte("stages:\n  - {name: a, type: native, use: x, memory_limit: 16MiB}\n"), false)
	check("typo", []byte("stagse: []\n"), false)
	check("bad codec", []byte("input: {codec: tsv}\n"), false)
	check("bad type", []byte("stages: [{name: a, type: cobol}]\n"), false)
	check("bad duration", []byte("defaults: {timeout: soon}\n"), false)
	check("workers type", []byte("defaults: {workers: many}\n"), false)
	check("no name", []byte("stages: [{type: native}]\n"), false)
	check("plugins", []byte("plugins: {dirs: [p], require_signed: true, trust: [k.pub]}\nstages: [{name: a, use: redact@^1.2}]\n"), true)
}
