// Command pipe runs streaming data pipelines. See `pipe --help`.
package main

import (
	"os"

	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/internal/cli"
	_ "github.com/pipe-dev/pipe/stages/all"
	"github.com/pipe-dev/pipe/stages/isolate"
)

func main() {
	isolate.ServeIfChild() // started as the child of an isolated stage: serve it, never return
	releaseStartupPages()
	os.Exit(cli.MainExiting(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
