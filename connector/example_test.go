package connector_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// upperOutput prints records in upper case; a real output would send them
// somewhere and return a transient error (retried) or a Permanent one.
type upperOutput struct{ prefix string }

func (o *upperOutput) Connect(context.Context) error { return nil }
func (o *upperOutput) Close(context.Context) error   { return nil }

func (o *upperOutput) WriteBatch(_ context.Context, recs []*stage.Record) error {
	for _, r := range recs {
		fmt.Println(o.prefix + strings.ToUpper(string(r.Data)))
	}
	return nil // delivered: the engine acknowledges the input records
}

// Example_output registers an output type with its config struct and runs
// a pipeline that uses it.
func Example_output() {
	type config struct {
		Prefix string `yaml:"prefix" doc:"Written before every record."`
	}
	reg := engine.NewRegistry()
	reg.RegisterOutput(connector.OutputType{
		Name:    "upper",
		Summary: "print records in upper case",
		Config:  config{},
		New: func(cfg stage.Config, _ connector.Env) (connector.Output, error) {
			var c config
			if err := cfg.Decode(&c); err != nil {
				return nil, err
			}
			return &upperOutput{prefix: c.Prefix}, nil
		},
	})
	spec, err := engine.Parse([]byte("output: {type: upper, prefix: '> '}\n"), "", engine.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Run(context.Background(), strings.NewReader("hello\nworld\n"), nil); err != nil {
		fmt.Println(err)
	}
	// Output:
	// > HELLO
	// > WORLD
}
