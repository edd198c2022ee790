package rpc_test

import (
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// TestConformance runs the engine's conformance suite against the cases
// plugin: one plugin process per worker, every case over gRPC.
func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		return casesSpec(string(c))
	}, enginetest.Options{HangTimeout: 2 * time.Second})
}
