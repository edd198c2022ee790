package engine_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

var updateCodecs = flag.Bool("update-codecs", false, "rewrite the expected files of testdata/codecs")

// TestCodecGolden runs the cases of testdata/codecs (the csv and logfmt
// codecs) with enginetest.RunGolden.
func TestCodecGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/codecs/*/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("%d golden cases, want at least 10", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) { enginetest.RunGolden(t, dir, *updateCodecs) })
	}
}

// TestCSVSettingsInPlan: the csv: settings reach the plan, the output
// takes the input's when it is csv too, and the resolved YAML (--dry-run)
// reads back as the same plan.
func TestCSVSettingsInPlan(t *testing.T) {
	spec, err := engine.Parse([]byte("input: {codec: csv, csv: {columns: [a, 'b c'], delimiter: ';', header: false}}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Plan()
	if pl.Input.CSV == "" || pl.Output.CSV != pl.Input.CSV || pl.Output.Codec != engine.CodecCSV {
		t.Fatalf("input csv %q, output %q %q: want the output to take the input's", pl.Input.CSV, pl.Output.Codec, pl.Output.CSV)
	}
	y, err := pl.YAML()
	if err != nil {
		t.Fatal(err)
	}
	// (An empty stage list prints as a comment line and "[]" under it.)
	spec2, err := engine.Parse([]byte(strings.Replace(string(y), "\n[]", " []", 1)), "p2.yaml")
	if err != nil {
		t.Fatalf("resolved YAML does not parse: %v\n%s", err, y)
	}
	p2, err := engine.Build(spec2)
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.Plan(); got.Input.CSV != pl.Input.CSV || got.Output.CSV != pl.Output.CSV {
		t.Errorf("read back: input csv %q, output %q; want %q", got.Input.CSV, got.Output.CSV, pl.Input.CSV)
	}
}
