// Command benchhost is pipe with the code of the w1, w2 and w3 plugins
// compiled in (use: w1, w2, w3), to measure what the .so boundary costs:
// see stages/native/bench.sh.
package main

import (
	"os"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/cli"
	_ "github.com/pipe-dev/pipe/stages/all"
	"github.com/pipe-dev/pipe/stages/native/testdata/plugins/wl"
)

func main() {
	engine.Register("w1", wl.NewW1)
	engine.Register("w2", wl.NewW2)
	engine.Register("w3", wl.NewW3)
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
