// Command w2 is the W2 benchmark workload as a wasm guest: upper-case the
// whole line.
package main

import (
	"bytes"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

func init() {
	guest.Transform(func(rec []byte, _ guest.Meta) ([][]byte, error) {
		return [][]byte{bytes.ToUpper(rec)}, nil
	})
}

func main() {}
