package wasm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

var fenceRE = regexp.MustCompile("(?s)```(yaml pipeline|text input|text output)\n(.*?)```")

// TestREADMEExample runs the README's example pipeline as written; only the
// modules come from the test's build directory instead of testdata/bin.
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
	for i, st := range spec.Stages {
		name := strings.TrimSuffix(filepath.Base(st.Path), ".wasm")
		if filepath.Base(filepath.Dir(st.Path)) == "wat" {
			spec.Stages[i].Path = wat(t, name)
		} else {
			spec.Stages[i].Path = guest(name)
		}
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(b[1][2]), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != b[2][2] {
		t.Errorf("output:\n%s\nREADME says:\n%s", out.String(), b[2][2])
	}
}

// TestREADMEGuest checks that the README's Go guest is the example guest
// that the test builds.
func TestREADMEGuest(t *testing.T) {
	md, _ := os.ReadFile("README.md")
	src, err := os.ReadFile("testdata/guests/upper/main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatal("README has no Go guest")
	}
	// The file has a doc comment on top; the README shows the code.
	if !bytes.HasSuffix(src, m[1]) {
		t.Errorf("README's Go guest is not testdata/guests/upper/main.go:\n%s", m[1])
	}
}
