// Command upper is the README's example guest: it upper-cases every record.
package main

import (
	"bytes"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

func init() {
	guest.Transform(func(rec []byte, meta guest.Meta) ([][]byte, error) {
		return [][]byte{bytes.ToUpper(rec)}, nil
	})
}

func main() {}
