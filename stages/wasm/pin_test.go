package wasm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/pin/pintest"
)

// runModule loads and runs a fresh pipeline over the module at path.
func runModule(t *testing.T, path, in string) string {
	t.Helper()
	p, err := engine.Build(&engine.Spec{Stages: []engine.StageSpec{{Name: "m", Type: "wasm", Path: path}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestPinnedEntry: a plugin's module replaced after it was verified does
// not run (issue 15, item 2), also when the compilation cache already
// holds the replacement's compiled code.
func TestPinnedEntry(t *testing.T) {
	entry, err := os.ReadFile(wat(t, "upper"))
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := os.ReadFile(guest("w3")) // drops records that are not JSON with tags
	if err != nil {
		t.Fatal(err)
	}
	// Compile and run the replacement once, so that the process's
	// compilation cache holds its code.
	warm := filepath.Join(t.TempDir(), "swapped.wasm")
	if err := os.WriteFile(warm, swapped, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runModule(t, warm, "a\n"); out != "" {
		t.Fatalf("the replacement module outputs %q, want nothing (the test needs a different output)", out)
	}
	pintest.Run(t, pintest.Case{Kind: "wasm", Ext: ".wasm", Entry: entry, Swapped: swapped, In: "a\nb\n", Want: "A\nB\n"})
}

// TestCompilationCacheFollowsTheBytes: a module file replaced between two
// loads runs the new bytes: the compilation cache is keyed by content, not
// by path.
func TestCompilationCacheFollowsTheBytes(t *testing.T) {
	upper, err := os.ReadFile(wat(t, "upper"))
	if err != nil {
		t.Fatal(err)
	}
	w3, err := os.ReadFile(guest("w3"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.wasm")
	for i, c := range []struct {
		module []byte
		want   string
	}{{upper, "A\n"}, {w3, ""}, {upper, "A\n"}} {
		if err := os.WriteFile(path, c.module, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := runModule(t, path, "a\n"); out != c.want {
			t.Errorf("load %d: output %q, want %q", i, out, c.want)
		}
	}
}
