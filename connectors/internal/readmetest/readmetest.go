// Package readmetest checks the pipeline examples of a connector's
// README.md: each ```yaml block must parse and build (what pipe lint
// checks without connecting).
package readmetest

import (
	"os"
	"regexp"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/native" // the examples use native stages
)

var yamlRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Check builds every yaml block of readme and returns how many there were.
func Check(t *testing.T, readme string) int {
	t.Helper()
	md, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlRE.FindAllStringSubmatch(string(md), -1)
	for i, b := range blocks {
		spec, err := engine.Parse([]byte(b[1]), readme)
		if err != nil {
			t.Fatalf("%s example %d: %v", readme, i+1, err)
		}
		p, err := engine.Build(spec)
		if err != nil {
			t.Fatalf("%s example %d: %v", readme, i+1, err)
		}
		p.Close()
	}
	return len(blocks)
}
