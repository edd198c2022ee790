package js_test

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

// TestREADMEExample runs the example of README.md as written.
func TestREADMEExample(t *testing.T) {
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	b := fenceRE.FindAllStringSubmatch(string(md), -1)
	if len(b) != 3 {
		t.Fatalf("want one pipeline, input and output block, found %d blocks", len(b))
	}
	spec, err := engine.Parse([]byte(b[0][2]), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(b[1][2]), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != b[2][2] {
		t.Errorf("output:\n%s\nREADME says:\n%s", out.String(), b[2][2])
	}
}
