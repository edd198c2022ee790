// Command upper is the README's example guest: it drops records starting
// with "#", upper-cases the others and sets their metadata "upper".
package main

import (
	"bytes"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

func init() {
	guest.Transform(func(rec []byte, meta guest.Meta) ([][]byte, error) {
		if bytes.HasPrefix(rec, []byte("#")) {
			return nil, nil // drop
		}
		meta["upper"] = "yes" // metadata: read, set, delete
		return [][]byte{bytes.ToUpper(rec)}, nil
	})
}

func main() {} // never called: register in init
