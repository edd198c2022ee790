package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/native" // the built-in native transformers
)

// Run a pipeline written in YAML over a string.
func Example() {
	spec, err := engine.Parse([]byte(`
input: {codec: ndjson}
stages:
  - {name: errors, type: native, use: select, config: {field: level, equals: error}}
  - {name: shout, type: native, use: case, config: {field: msg, to: upper}}
`), "example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := engine.Build(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	in := `{"level":"info","msg":"started"}
{"level":"error","msg":"disk full"}
{"level":"error","msg":"retrying"}
`
	if err := p.RunReader(context.Background(), strings.NewReader(in), os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"level":"error","msg":"DISK FULL"}
	// {"level":"error","msg":"RETRYING"}
}

// reverse is a Go transformer with a config: it reverses each record,
// optionally skipping records shorter than min.
type reverse struct{ min int }

func (r reverse) Transform(_ context.Context, rec *engine.Record, emit func(*engine.Record)) error {
	if len(rec.Data) < r.min {
		return nil // drop
	}
	b := rec.Data
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	emit(rec)
	return nil
}

// Register a Go transformer by name and use it from a pipeline file.
func ExampleRegistry_Register() {
	reg := engine.NewRegistry() // or engine.Register for the default registry
	reg.Register("reverse", func(cfg engine.Config) (engine.Transformer, error) {
		var c struct {
			Min int `yaml:"min"`
		}
		if err := cfg.Decode(&c); err != nil { // unknown fields are errors
			return nil, err
		}
		return reverse{min: c.Min}, nil
	})
	spec, _ := engine.Parse([]byte(`
stages:
  - {name: rev, type: native, use: reverse, config: {min: 3}}
`), "rev.yaml")
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	var out bytes.Buffer
	_ = p.RunReader(context.Background(), strings.NewReader("hello\nab\nworld\n"), &out)
	fmt.Print(out.String())

	// A typo in the config is reported with its position.
	spec, _ = engine.Parse([]byte("stages:\n  - {name: rev, type: native, use: reverse, config: {mni: 3}}\n"), "rev.yaml")
	_, err = engine.Build(spec, engine.WithRegistry(reg))
	fmt.Println(err)
	// Output:
	// olleh
	// dlrow
	// rev.yaml:2:54: unknown field "mni" (did you mean "min"?); known fields: min
}

// Build a pipeline in code and feed it records directly.
func ExampleBuild() {
	split := engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		for part := range bytes.FieldsSeq(r.Data) {
			emit(r.Derive(part)) // Derive keeps the metadata
		}
		return nil
	})
	p, err := engine.Build(&engine.Spec{
		Stages: []engine.StageSpec{
			{Name: "words", New: func() (engine.Transformer, error) { return split, nil }},
			{Name: "upper", Type: "native", Use: "case", Config: engine.ConfigOf(map[string]any{"to": "upper"})},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := engine.NewRecord([]byte("to be or not"))
	rec.Set("source", "hamlet")
	out, err := p.Process(context.Background(), rec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range out {
		fmt.Printf("%s source=%s\n", r.Data, r.Get("source"))
	}
	// Output:
	// TO source=hamlet
	// BE source=hamlet
	// OR source=hamlet
	// NOT source=hamlet
}

// Every effective setting of a built pipeline, and what a reload would
// change.
func ExamplePipeline_Plan() {
	build := func(yaml string) *engine.Pipeline {
		spec, err := engine.Parse([]byte(yaml), "plan.yaml")
		if err != nil {
			panic(err)
		}
		p, err := engine.Build(spec)
		if err != nil {
			panic(err)
		}
		return p
	}
	old := build(`
defaults: {max_record_bytes: 64KiB, timeout: 2s}
stages: [{name: shout, type: native, use: case, config: {to: upper}}]
`)
	pl := old.Plan()
	fmt.Println("input limit:", pl.Input.MaxRecordBytes, "stage timeout:", pl.Stages[0].Timeout)

	next := build(`
output: {type: file, path: out.txt}
defaults: {max_record_bytes: 1KiB, timeout: 2s}
stages: [{name: shout, type: native, use: case, config: {to: upper}}]
`)
	for _, c := range pl.Diff(next.Plan()) {
		fmt.Printf("%s (restart: %v)\n", c, c.Restart)
	}
	// Output:
	// input limit: 64KiB stage timeout: 2s
	// input.max_record_bytes: 64KiB → 1KiB (restart: false)
	// output.type: stdout → file (restart: true)
	// output.path: (none) → out.txt (restart: true)
	// stages.shout.max_record_bytes: 64KiB → 1KiB (restart: false)
}
