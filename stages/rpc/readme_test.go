package rpc_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

var fenceRE = regexp.MustCompile("(?s)```(yaml pipeline|text input|text output)\n(.*?)```")

// TestREADMEExample runs the README's example pipeline as written; only the
// plugin's directory is the test's build directory instead of testdata/bin.
func TestREADMEExample(t *testing.T) {
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	b := fenceRE.FindAllStringSubmatch(string(md), -1)
	if len(b) != 3 || b[0][1] != "yaml pipeline" || b[1][1] != "text input" || b[2][1] != "text output" {
		t.Fatalf("README has %d example blocks, want one pipeline/input/output triple", len(b))
	}
	spec, err := engine.Parse([]byte(b[0][2]), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i := range spec.Stages {
		spec.Stages[i].Path = filepath.Join(bin, filepath.Base(spec.Stages[i].Path))
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), bytes.NewReader([]byte(b[1][2])), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != b[2][2] {
		t.Errorf("output:\n%s\nREADME says:\n%s", out.String(), b[2][2])
	}
}
