// Command w1 is the W1 benchmark workload as an rpc plugin: keep records
// with level "error", upper-case msg, add "processed": true.
package main

import (
	"context"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

func main() {
	rpcplugin.Serve(stage.TransformerFunc(func(_ context.Context, rec *stage.Record, emit func(*stage.Record)) error {
		if gjson.GetBytes(rec.Data, "level").String() != "error" {
			return nil // drop
		}
		msg := gjson.GetBytes(rec.Data, "msg").String()
		data, err := sjson.SetBytes(rec.Data, "msg", strings.ToUpper(msg))
		if err != nil {
			return err // fails this record: on_error decides
		}
		if data, err = sjson.SetBytes(data, "processed", true); err != nil {
			return err
		}
		rec.Data = data
		emit(rec)
		return nil
	}))
}
