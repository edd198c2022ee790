// Command w3 is the W3 benchmark workload as a wasm guest: one record per
// element of tags, with tag set to it and tags removed.
package main

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

func init() {
	guest.Transform(func(rec []byte, _ guest.Meta) ([][]byte, error) {
		tags := gjson.GetBytes(rec, "tags")
		if !tags.IsArray() {
			return nil, nil
		}
		base, err := sjson.DeleteBytes(rec, "tags")
		if err != nil {
			return nil, err
		}
		var out [][]byte
		for _, tag := range tags.Array() {
			b, err := sjson.SetBytes(append([]byte(nil), base...), "tag", tag.String())
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	})
}

func main() {}
