// Command w3 is the W3 benchmark workload as an rpc plugin: one record per
// element of tags, with tag set to it and tags removed.
package main

import (
	"context"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

func main() {
	rpcplugin.Serve(stage.TransformerFunc(func(_ context.Context, rec *stage.Record, emit func(*stage.Record)) error {
		tags := gjson.GetBytes(rec.Data, "tags")
		if !tags.IsArray() {
			return nil
		}
		base, err := sjson.DeleteBytes(rec.Data, "tags")
		if err != nil {
			return err
		}
		for _, tag := range tags.Array() {
			out, err := sjson.SetBytes(append([]byte(nil), base...), "tag", tag.String())
			if err != nil {
				return err
			}
			emit(rec.Derive(out))
		}
		return nil
	}))
}
