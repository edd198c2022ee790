// Package engine is a stand-in for package engine of pipe 1.x (host API
// 1), where the plugin contract lived: just enough of it for the oldapi
// plugin to be built as plugins for that API were.
package engine

import "context"

const APIVersion = "1.0.0"

type Record struct {
	Data []byte
	Meta map[string]string
}

type Transformer interface {
	Transform(ctx context.Context, rec *Record, emit func(*Record)) error
}

type TransformerFunc func(ctx context.Context, rec *Record, emit func(*Record)) error

func (f TransformerFunc) Transform(ctx context.Context, rec *Record, emit func(*Record)) error {
	return f(ctx, rec, emit)
}

type Config struct{ node any }

func (c Config) Decode(v any) error { return nil }
