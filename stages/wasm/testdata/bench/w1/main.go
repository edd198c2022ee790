// Command w1 is the W1 benchmark workload as a wasm guest: keep records
// with level "error", upper-case msg, add "processed": true.
package main

import (
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

func init() {
	guest.Transform(func(rec []byte, _ guest.Meta) ([][]byte, error) {
		if gjson.GetBytes(rec, "level").String() != "error" {
			return nil, nil // drop
		}
		msg := gjson.GetBytes(rec, "msg").String()
		data, err := sjson.SetBytes(rec, "msg", strings.ToUpper(msg))
		if err != nil {
			return nil, err
		}
		if data, err = sjson.SetBytes(data, "processed", true); err != nil {
			return nil, err
		}
		return [][]byte{data}, nil
	})
}

func main() {}
