// Command modmismatch is a Go plugin that uses gopkg.in/yaml.v3 itself,
// built against v3.0.0 while pipe uses v3.0.1 (see go.mod's replace): the
// loader must refuse it, naming both versions (a bad-input case). A plugin
// importing only package stage shares no such module with pipe; one that
// uses a library pipe also uses must match pipe's version of it.
package main

import (
	"context"

	"gopkg.in/yaml.v3"

	"github.com/pipe-dev/pipe/stage"
)

var PipeAPIVersion = stage.APIVersion

func New(cfg stage.Config) (stage.Transformer, error) {
	return stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		var v any
		if err := yaml.Unmarshal(r.Data, &v); err != nil {
			return err
		}
		emit(r)
		return nil
	}), nil
}
