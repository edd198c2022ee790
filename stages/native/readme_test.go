package native_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/native"
)

var fenceRE = regexp.MustCompile("(?s)```(yaml pipeline|text input|text output)\n(.*?)```")

// TestREADMEExamples runs every example of README.md as written.
func TestREADMEExamples(t *testing.T) {
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := fenceRE.FindAllStringSubmatch(string(md), -1)
	if len(blocks) < 30 || len(blocks)%3 != 0 {
		t.Fatalf("found %d example blocks; want pipeline, input, output triples", len(blocks))
	}
	for i := 0; i < len(blocks); i += 3 {
		pipeline, input, output := blocks[i], blocks[i+1], blocks[i+2]
		if pipeline[1] != "yaml pipeline" || input[1] != "text input" || output[1] != "text output" {
			t.Fatalf("example %d is not a pipeline/input/output triple", i/3)
		}
		t.Run(strings.Fields(strings.SplitN(pipeline[2], "name: ", 2)[1])[0], func(t *testing.T) {
			spec, err := engine.Parse([]byte(pipeline[2]), "README.md")
			if err != nil {
				t.Fatal(err)
			}
			p, err := engine.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := p.RunReader(context.Background(), strings.NewReader(input[2]), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != output[2] {
				t.Errorf("output:\n%s\nREADME says:\n%s", out.String(), output[2])
			}
		})
	}
}
