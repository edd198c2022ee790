package rpc_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// A plugin at 90µs a record with timeout: 30ms (about 92ms for a batch of
// 1024) is not killed on every batch: a batch call's deadline scales with
// its size once the worker has measured what a record costs. Only the first
// batch, before any measurement, may overrun the timeout (then it is re-run
// record by record, which teaches the estimate).
func TestSlowPluginNotKilledPerBatch(t *testing.T) {
	sp := casesSpec("spin", "90us")
	timeout := 30 * time.Millisecond
	sp.Timeout = &timeout
	sp.OnError = engine.OnErrorDrop // (a loaded machine may stall one record past 30ms)
	in := make([]string, 6*1024)
	for i := range in {
		in[i] = strconv.Itoa(i)
	}
	r := runStage(t, sp, in)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if int64(len(r.out))+r.stats.Errors != int64(len(in)) {
		t.Fatalf("%d out, stats %+v; want %d in all", len(r.out), r.stats, len(in))
	}
	if r.stats.Restarts > 2 {
		t.Errorf("%d restarts for %d batches, stats %+v; want at most the first batch's", r.stats.Restarts, len(in)/1024, r.stats)
	}
}
