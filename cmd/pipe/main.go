// Command pipe runs streaming data pipelines. See `pipe --help`.
package main

import (
	"os"

	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/internal/cli"
	_ "github.com/pipe-dev/pipe/stages/all"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
