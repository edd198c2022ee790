package engine_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/pipe-dev/pipe/engine"
)

type prefixConfig struct {
	With string `yaml:"with" required:"true" example:"'> '" doc:"Text put before every record."`
	Max  int    `yaml:"max" default:"80" doc:"Records are cut to this many bytes first."`
}

type prefix struct{ c prefixConfig }

func (p prefix) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if len(r.Data) > p.c.Max {
		r.Data = r.Data[:p.c.Max]
	}
	r.Data = append([]byte(p.c.With), r.Data...)
	emit(r)
	return nil
}

// Register a transformer with a spec: its config struct's tags give the
// fields' docs, defaults and required fields. The spec checks every
// stage's config: when the file is parsed, reporting every mistake with
// its position, and is what `pipe stages NAME`, `pipe schema` and the
// reference docs show.
func ExampleRegistry_RegisterNative() {
	reg := engine.DefaultRegistry.Clone() // an isolated set: DefaultRegistry is unchanged
	reg.RegisterNative(engine.Native{
		Name:    "prefix",
		Summary: "put text before every record",
		Config:  prefixConfig{},
		New: func(cfg engine.Config) (engine.Transformer, error) {
			var c prefixConfig
			if err := cfg.Decode(&c); err != nil { // applies max's default
				return nil, err
			}
			return prefix{c}, nil
		},
	})

	_, err := engine.Parse([]byte(`
stages:
  - {name: a, type: native, use: prefix, config: {wth: "> "}}
  - {name: b, type: native, use: prefix, config: {with: "> ", max: lots}}
`), "p.yaml", engine.WithRegistry(reg))
	fmt.Println(err)

	spec, _ := engine.Parse([]byte(`stages: [{name: a, type: native, use: prefix, config: {with: "> "}}]`), "p.yaml", engine.WithRegistry(reg))
	p, _ := engine.Build(spec, engine.WithRegistry(reg))
	out, _ := p.Process(context.Background(), engine.NewRecord([]byte(strings.Repeat("x", 100))))
	fmt.Println(len(out[0].Data))
	// Output:
	// p.yaml:3:51: unknown field "wth" (did you mean "with"?); known fields: max, with
	// p.yaml:4:68: expected an integer, got "lots"
	// 82
}
