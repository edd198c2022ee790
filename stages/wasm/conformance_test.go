package wasm_test

import (
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// TestConformance runs the engine's conformance suite against the cases
// guest: one module instance per worker, each batch in one call.
func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		return casesSpec(string(c))
	}, enginetest.Options{})
}

// TestConformanceWAT runs the suite's upper-case cases against the
// hand-written WAT module.
func TestConformanceWAT(t *testing.T) {
	path := wat(t, "upper")
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		if c != enginetest.Upper {
			t.Skip("the WAT module implements the upper case only")
		}
		return engine.StageSpec{Type: "wasm", Path: path}
	}, enginetest.Options{})
}
