// Command rpcplugin is the smallest useful rpc plugin written with the Go
// SDK; TestPluginDependencies lists what it links.
package main

import (
	"bytes"
	"context"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

func main() {
	rpcplugin.Serve(stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		r.Data = bytes.ToUpper(r.Data)
		emit(r)
		return nil
	}))
}
