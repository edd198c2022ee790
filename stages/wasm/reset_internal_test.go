package wasm

import (
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// TestResetReplacesAnInterruptedInstance: a call its timeout interrupted
// discards the module instance; Reset (which the engine calls then) makes
// the replacement at once, so the next record's call does not pay for it.
func TestResetReplacesAnInterruptedInstance(t *testing.T) {
	s := loadStage(t, testGuest(t, "wat-behave"), true)
	in, err := s.instance()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(engine.ErrStageTimeout)
	var out engine.BatchResult
	if err := in.TransformBatch(ctx, []*engine.Record{engine.NewRecord([]byte("spin"))}, &out); err == nil {
		t.Fatal("an interrupted call succeeded")
	}
	if in.m != nil {
		t.Fatal("the interrupted instance was kept")
	}
	if err := in.Reset(context.Background()); err != nil || in.m == nil {
		t.Fatalf("Reset = %v, instance %v; want a fresh instance", err, in.m)
	}
	out.Reset(1)
	if err := in.TransformBatch(context.Background(), []*engine.Record{engine.NewRecord([]byte("ok"))}, &out); err != nil || len(out.Records()) != 1 {
		t.Errorf("the call after Reset: %v, %d records", err, len(out.Records()))
	}
}
