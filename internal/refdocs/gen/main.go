// Command gen writes the component reference (docs/reference) of every
// component compiled into pipe. Run it with `go generate ./docs/reference`.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/refdocs"
	_ "github.com/pipe-dev/pipe/stages/all"
)

func main() {
	out := flag.String("out", "docs/reference", "directory of the reference pages")
	flag.Parse()
	if err := refdocs.Write(*out, refdocs.Pages(engine.DefaultRegistry)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
