package wasm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// TestGoWorkloadsKeepSjsonOutput: the Go W1 and W3 guests, whose fast
// paths write records of the common shape themselves, give on
// testdata/bench/golden/edge.ndjson (the C guests' edge cases and shapes
// around the fast paths: escapes, blanks, duplicate and missing fields,
// values of other types, non-ASCII text) the output that they gave when
// every record went through sjson (golden/w1.out and w3.out, made by
// those guests, records failed dropped).
func TestGoWorkloadsKeepSjsonOutput(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "bench", "golden", "edge.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"w1", "w3"} {
		t.Run(w, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "bench", "golden", w+".out"))
			if err != nil {
				t.Fatal(err)
			}
			spec := &engine.Spec{
				Input:  engine.InputSpec{Codec: "ndjson"},
				Stages: []engine.StageSpec{{Name: w, Type: "wasm", Path: guest(w), OnError: engine.OnErrorDrop}},
			}
			p, err := engine.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var out bytes.Buffer
			if err := p.RunReader(ctx, bytes.NewReader(in), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				gl, wl := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("%d lines, want %d; line %d:\n got %s\nwant %s", len(gl), len(wl), i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%d lines, want %d", len(gl), len(wl))
			}
		})
	}
}
