// Package pipelines holds the example pipelines and their sample data; this
// test runs each one and compares its output with expected/<name>.out.
package pipelines

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/all"
)

var update = flag.Bool("update", false, "rewrite expected/*.out")

func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d example pipelines", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(f, ".yaml")
		t.Run(name, func(t *testing.T) {
			p, err := engine.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var out bytes.Buffer
			if err := p.Run(context.Background(), strings.NewReader(""), &out); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("expected", name+".out")
			if *update {
				os.MkdirAll("expected", 0o755)
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output of %s differs from %s:\n%s", f, golden, out.String())
			}
			if out.Len() == 0 {
				t.Error("example pipeline printed nothing")
			}
		})
	}
}
