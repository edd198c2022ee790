package engine_test

import (
	"flag"
	"path/filepath"
	"testing"

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
