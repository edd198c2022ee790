// Command w2 is the W2 benchmark workload as an rpc plugin: upper-case the
// whole line.
package main

import (
	"bytes"
	"context"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

func main() {
	rpcplugin.Serve(stage.TransformerFunc(func(_ context.Context, rec *stage.Record, emit func(*stage.Record)) error {
		rec.Data = bytes.ToUpper(rec.Data)
		emit(rec)
		return nil
	}))
}
