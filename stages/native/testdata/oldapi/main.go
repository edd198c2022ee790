// Command oldapi is a Go plugin written for host API 1, when the plugin
// contract lived in package engine (pipe1/ stands in for that engine): the
// loader must refuse it and say how to port it (a bad-input case).
package main

import (
	"context"

	"github.com/pipe-dev/pipe/engine"
)

var PipeAPIVersion = engine.APIVersion

func New(cfg engine.Config) (engine.Transformer, error) {
	return engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		emit(r)
		return nil
	}), nil
}
