// Command benchhost is pipe with the code of the w1, w2 and w3 plugins
// compiled in (use: w1, w2, w3), to measure what the .so boundary costs:
// see stages/native/bench.sh.
package main

import (
	"os"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/cli"
	"github.com/pipe-dev/pipe/stage"
	_ "github.com/pipe-dev/pipe/stages/all"
	"github.com/pipe-dev/pipe/stages/native/testdata/plugins/wl"
)

func main() {
	engine.Register("w1", native(wl.NewW1))
	engine.Register("w2", native(wl.NewW2))
	engine.Register("w3", native(wl.NewW3))
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// native registers a plugin's constructor as a compiled-in transformer
// (an engine.Config is a stage.Config).
func native(f func(stage.Config) (stage.Transformer, error)) engine.NativeFunc {
	return func(c engine.Config) (engine.Transformer, error) { return f(c) }
}
