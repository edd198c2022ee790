package rpc

import (
	"github.com/pipe-dev/pipe/engine"
	pipestage "github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

// Serve calls rpcplugin.Serve(t). It is kept for one release (see
// CHANGELOG.md): a plugin that calls it links the whole engine, one that
// calls rpcplugin.Serve links package stage only.
func Serve(t engine.Transformer) { rpcplugin.Serve(t) }

// ServeFunc serves fn as rpcplugin.ServeFunc does, handing fn an
// engine.Config made from the stage's config:. It is kept for one release
// (see CHANGELOG.md); new plugins call rpcplugin.ServeFunc with a
// func(stage.Config) (stage.Transformer, error).
func ServeFunc(fn engine.NativeFunc) {
	rpcplugin.ServeFunc(func(c pipestage.Config) (pipestage.Transformer, error) {
		v, err := c.Value()
		if err != nil {
			return nil, err
		}
		return fn(engine.ConfigOf(v))
	})
}
