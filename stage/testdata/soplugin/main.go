// Command soplugin is the smallest useful Go plugin (.so);
// TestPluginDependencies lists what it links.
package main

import (
	"bytes"
	"context"

	"github.com/pipe-dev/pipe/stage"
)

var PipeAPIVersion = stage.APIVersion

func New(cfg stage.Config) (stage.Transformer, error) {
	var c struct {
		Suffix string `yaml:"suffix"`
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	return stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		r.Data = append(bytes.ToUpper(r.Data), c.Suffix...)
		emit(r)
		return nil
	}), nil
}
