package native_test

import (
	"path/filepath"
	"testing"
)

// TestAggregateGolden runs the cases of testdata/aggregate (the layout of
// testdata/parse: pipeline.yaml, input, expected, and dead_letter or error
// when records fail).
func TestAggregateGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/aggregate/*/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("%d golden cases, want at least 10", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) { runGolden(t, dir) })
	}
}
