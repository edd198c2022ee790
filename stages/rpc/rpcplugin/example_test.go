package rpcplugin_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

// newSuffix is a plugin's constructor: the same function can be served
// over rpc, exported from a Go plugin as New, or registered as a compiled-in
// transformer.
func newSuffix(cfg stage.Config) (stage.Transformer, error) {
	var c struct {
		Suffix string `yaml:"suffix"`
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.Suffix == "" {
		return nil, cfg.Errorf("suffix", "suffix must not be empty")
	}
	return stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		r.Data = append(bytes.ToUpper(r.Data), c.Suffix...)
		emit(r)
		return nil
	}), nil
}

// A plugin's main serves its constructor; the host sends the stage's
// config: when it opens the plugin.
func ExampleServeFunc() {
	rpcplugin.ServeFunc(newSuffix) // does not return
}

// ConfigOf tests a constructor without a host.
func ExampleConfigOf() {
	t, err := newSuffix(rpcplugin.ConfigOf(map[string]any{"suffix": "!"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	t.Transform(context.Background(), stage.NewRecord([]byte("hello")), func(r *stage.Record) {
		fmt.Println(string(r.Data))
	})

	_, err = newSuffix(rpcplugin.ConfigOf(map[string]any{"sufix": "!"}))
	fmt.Println(err)
	// Output:
	// HELLO!
	// unknown field "sufix" (did you mean "suffix"?); known fields: suffix
}
