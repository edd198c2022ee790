// Package scripttest holds the helpers the tests of the script kinds (lua,
// js) share.
package scripttest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// Build parses yaml as a pipeline file in a temporary directory (TESTDATA
// in it stands for the package's testdata directory), builds and loads it.
func Build(t *testing.T, yaml string) (*engine.Pipeline, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "p.yaml")
	wd, _ := os.Getwd()
	yaml = strings.ReplaceAll(yaml, "TESTDATA", filepath.Join(wd, "testdata"))
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse([]byte(yaml), file)
	if err != nil {
		return nil, err
	}
	p, err := engine.Build(spec)
	if err != nil {
		return nil, err
	}
	return p, p.Load(context.Background())
}

// Run builds yaml (see Build) and runs it over in.
func Run(t *testing.T, yaml, in string) (string, *engine.Pipeline, error) {
	t.Helper()
	p, err := Build(t, yaml)
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	err = p.RunReader(context.Background(), strings.NewReader(in), &out)
	return out.String(), p, err
}

// Stage is a pipeline of one ndjson stage of kind running code, with
// on_error: drop, timeout: 1s (a record beside a stuck one must pass
// within it on a loaded machine under -race) and the extra fields given.
func Stage(kind, code string, extra ...string) string {
	y := "input: {codec: ndjson}\nstages:\n  - name: s\n    type: " + kind + "\n    on_error: drop\n    timeout: 1s\n"
	for _, e := range extra {
		y += "    " + e + "\n"
	}
	return y + "    code: |\n      " + strings.ReplaceAll(code, "\n", "\n      ") + "\n"
}
