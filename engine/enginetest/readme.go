package enginetest

import (
	"regexp"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

var fenceRE = regexp.MustCompile("(?s)```(yaml pipeline|text input|text output)\n(.*?)```")

// RunREADMEExamples runs every example of a kind's README as written: each
// is a ```yaml pipeline block, then ```text input and ```text output
// blocks; the pipeline run on the input must print the output. It returns
// how many examples ran.
func RunREADMEExamples(t *testing.T, readme string, opts ...engine.Option) int {
	t.Helper()
	return RunREADMEExamplesMapped(t, readme, func(p string) string { return p }, opts...)
}
