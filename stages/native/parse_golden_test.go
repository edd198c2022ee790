package native_test

import (
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite the expected files of testdata/parse and testdata/aggregate")

// TestParseGolden runs the cases of testdata/parse: each folder holds a
// pipeline.yaml, an input, the expected output and, when records fail,
// dead_letter (the record number and error of each dead-lettered record)
// or error (the text of the run's error under on_error: fail).
func TestParseGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/parse/*/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 20 {
		t.Fatalf("%d golden cases, want at least 20", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) { runGolden(t, dir) })
	}
}

func runGolden(t *testing.T, dir string) {
	out := enginetest.RunGolden(t, dir, *update)
	// Every output line is valid JSON when the output is a parse stage's.
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("output line %d is not valid JSON: %s", i+1, line)
		}
	}
}
