// Command modmismatch is a Go plugin built against gopkg.in/yaml.v3
// v3.0.0 while pipe uses v3.0.1 (see go.mod's replace): the loader must
// refuse it, naming both versions (a bad-input case).
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
