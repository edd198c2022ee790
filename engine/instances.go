package engine

import (
	"context"
	"sync"

	"github.com/pipe-dev/pipe/stage"
)

// How kinds make instances, written once: the one-record fallback of
// batch-only instances (BatchOnly) and the instance a stage made in Load,
// kept for the first worker (First).

// BatchOnly makes a Transformer of b, an instance that implements only
// BatchTransformer (kinds that pay per call crossing into a VM or a
// process: wasm, rpc). The engine's workers call b.TransformBatch, for
// whole batches and, when they isolate the culprit of a failed batch, for
// one record at a time; Transform, for a caller with a single record, runs
// it as a batch of one: the records b emits for it are emitted, its
// failure is returned, and an error of the whole call is returned as is.
// Open, Flush, Reset and Close are passed on to b when it implements
// Opener, Flusher, stage.Resetter or Closer, and do nothing otherwise.
func BatchOnly(b BatchTransformer) Transformer { return &batchOne{BatchTransformer: b} }

type batchOne struct {
	BatchTransformer
	one [1]*Record
	res BatchResult
}

// Transform runs rec as a batch of one.
func (t *batchOne) Transform(ctx context.Context, rec *Record, emit func(*Record)) error {
	t.one[0] = rec
	t.res.Reset(1)
	err := t.TransformBatch(ctx, t.one[:], &t.res)
	t.one[0] = nil
	defer t.res.Reset(0) // keep no record alive
	if err == nil {
		err = t.res.Err()
	}
	if err != nil {
		return err
	}
	if t.res.NumFailed() > 0 {
		_, err := t.res.Failed(0)
		return err // what it emitted is discarded
	}
	for _, r := range t.res.Records() {
		emit(r)
	}
	return nil
}

func (t *batchOne) Open(ctx context.Context) error {
	if o, ok := t.BatchTransformer.(Opener); ok {
		return o.Open(ctx)
	}
	return nil
}

func (t *batchOne) Flush(ctx context.Context, emit func(*Record)) error {
	if f, ok := t.BatchTransformer.(Flusher); ok {
		return f.Flush(ctx, emit)
	}
	return nil
}

func (t *batchOne) Reset(ctx context.Context) error {
	if r, ok := t.BatchTransformer.(stage.Resetter); ok {
		return r.Reset(ctx)
	}
	return nil
}

func (t *batchOne) Close() error {
	if c, ok := t.BatchTransformer.(Closer); ok {
		return c.Close()
	}
	return nil
}

// First keeps what a stage made in Load to check that it starts (a module
// instance, a plugin process, a transformer built from its config) for the
// first worker, so that it is not made twice. The zero value is empty; its
// methods are safe for concurrent use.
type First[T any] struct {
	mu   sync.Mutex
	v    T
	kept bool
}

// Keep keeps v for the next Take.
func (f *First[T]) Keep(v T) {
	f.mu.Lock()
	f.v, f.kept = v, true
	f.mu.Unlock()
}

// Take returns the kept value once; ok is false when there is none (it
// was taken, or nothing was kept). A stage's New takes it for the first
// worker; its Close takes what no worker took, to release it.
func (f *First[T]) Take() (v T, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok = f.v, f.kept
	var zero T
	f.v, f.kept = zero, false
	return v, ok
}

// Interface guards.
var (
	_ BatchTransformer = (*batchOne)(nil)
	_ Opener           = (*batchOne)(nil)
	_ Flusher          = (*batchOne)(nil)
	_ Closer           = (*batchOne)(nil)
	_ stage.Resetter   = (*batchOne)(nil)
)
