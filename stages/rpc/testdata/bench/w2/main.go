// Command w2 is the W2 benchmark workload as an rpc plugin: upper-case the
// whole line.
package main

import (
	"bytes"
	"context"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/rpc"
)

func main() {
	rpc.Serve(engine.TransformerFunc(func(_ context.Context, rec *engine.Record, emit func(*engine.Record)) error {
		rec.Data = bytes.ToUpper(rec.Data)
		emit(rec)
		return nil
	}))
}
