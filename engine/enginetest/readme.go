package enginetest

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
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
	md, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	b := fenceRE.FindAllStringSubmatch(string(md), -1)
	if len(b) == 0 || len(b)%3 != 0 {
		t.Fatalf("%s: found %d example blocks; want pipeline, input, output triples", readme, len(b))
	}
	for i := 0; i < len(b); i += 3 {
		if b[i][1] != "yaml pipeline" || b[i+1][1] != "text input" || b[i+2][1] != "text output" {
			t.Fatalf("%s: example %d is not a pipeline, input, output triple", readme, i/3+1)
		}
		spec, err := engine.Parse([]byte(b[i][2]), readme, opts...)
		if err != nil {
			t.Fatal(err)
		}
		p, err := engine.Build(spec, opts...)
		if err != nil {
			t.Fatalf("%s example %d: %v", readme, i/3+1, err)
		}
		var out bytes.Buffer
		err = p.RunReader(context.Background(), strings.NewReader(b[i+1][2]), &out)
		p.Close()
		if err != nil {
			t.Fatalf("%s example %d: %v", readme, i/3+1, err)
		}
		if out.String() != b[i+2][2] {
			t.Errorf("%s example %d output:\n%s\nREADME says:\n%s", readme, i/3+1, out.String(), b[i+2][2])
		}
	}
	return len(b) / 3
}
