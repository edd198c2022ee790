package wasm_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// A guest at 100-200µs a record with timeout: 30ms (over 100ms for a
// batch of 1024) is not interrupted on every batch: a batch call's deadline
// scales with its size once the worker has measured what a record costs.
// Only the first batch, before any measurement, may overrun the timeout
// (it is then re-run record by record, which teaches the estimate).
func TestSlowGuestNotInterruptedPerBatch(t *testing.T) {
	to := 30 * time.Millisecond
	sp := engine.StageSpec{Name: "g", Type: "wasm", Path: wat(t, "behave"), Timeout: &to,
		OnError: engine.OnErrorDrop} // (a loaded machine may stall one record past 30ms)
	in := strings.Repeat("slow\n", 6*1024)
	var logs enginetest.SyncBuffer
	p, err := engine.Build(&engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{sp}},
		engine.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()[1]
	if n := int64(strings.Count(out.String(), "\n")); n+st.Errors != 6*1024 || st.Errors != st.Timeouts {
		t.Fatalf("%d out, stats %+v; want 6144 in all", n, st)
	}
	if n := strings.Count(logs.String(), "batch call failed"); n > 2 {
		t.Errorf("%d of 6 batch calls failed; want at most the first's (and one on a stalled machine):\n%s", n, logs.String())
	}
}
