package stage

import (
	"context"
	"errors"
	"fmt"
)

// Transformer turns one input record into zero or more output records. It is
// the one interface every stage kind (native, lua, js, wasm, rpc) implements.
//
// For each call, the transformer may:
//   - emit one record (rec itself, changed or not, or a new one): the record passes;
//   - emit nothing and return nil: the record is dropped;
//   - emit several records: the record is split; they leave in emit order;
//   - return an error: the record fails. What it emitted in this call is
//     discarded and the stage's on_error policy decides what follows (stop the
//     pipeline, drop the record, or dead-letter it). A failure never affects
//     the other records of the batch.
//
// Metadata: an emitted record whose Meta is nil inherits a copy of the input
// record's metadata; set Meta to an empty, non-nil map to emit a record with
// none. Use rec.Derive to make new records that carry rec's metadata.
//
// emit must only be called during the Transform call; the engine owns the
// emitted records once emitted, so do not change or emit them again.
//
// ctx carries the stage's per-record timeout and the pipeline's cancellation.
// Transform must return promptly once ctx is done (the engine interrupts lua,
// js, wasm and rpc stages itself; native Go code is cooperative and must honour
// ctx in anything that can block or loop for long).
//
// The engine never calls one instance concurrently: workers: N makes N
// instances, each used by one goroutine. Instances may therefore keep state
// (counters, caches) without locks.
type Transformer interface {
	Transform(ctx context.Context, rec *Record, emit func(*Record)) error
}

// TransformerFunc adapts a function to the Transformer interface.
type TransformerFunc func(ctx context.Context, rec *Record, emit func(*Record)) error

// Transform calls f(ctx, rec, emit).
func (f TransformerFunc) Transform(ctx context.Context, rec *Record, emit func(*Record)) error {
	return f(ctx, rec, emit)
}

// Opener is implemented by transformers that acquire resources (load a script,
// start a process) before the first record. Open is called once per instance
// before any Transform; if it fails, the pipeline does not start and Close is
// still called.
type Opener interface {
	Open(ctx context.Context) error
}

// Flusher is implemented by transformers that emit records at end of stream
// (aggregates, counts, buffered tails). Flush is called once per instance after
// its last Transform, also when the pipeline drains after SIGINT/SIGTERM. The
// records it emits have record number 0 and follow every record the stage
// emitted before.
type Flusher interface {
	Flush(ctx context.Context, emit func(*Record)) error
}

// Closer is implemented by transformers that hold resources. Close is called
// once per instance at the end of a run, after Flush, also after a failed Open
// or a failed run.
type Closer interface {
	Close() error
}

// Resetter is implemented by transformers whose runtime can be left unusable
// by an interrupted call (a VM stopped half way through a script, a wasm
// instance closed by its context, a plugin process killed at its deadline)
// and can be put back in working order without rebuilding the stage.
//
// The engine calls Reset on an instance after a Transform, TransformBatch or
// Flush call on it ended with its ctx done because the stage's timeout
// expired (context.Cause(ctx) wraps ErrStageTimeout), before it calls the
// instance again. It is never called concurrently with another method of
// the instance, never before Open succeeded and never after Close.
//
// Reset must leave the instance as a successful Open would: its configuration
// kept, its runtime fresh and ready for the next Transform. State that earlier
// records built inside the runtime (counters, caches) may be lost; a kind that
// loses it says so in its documentation. ctx carries the pipeline's
// cancellation but no per-record deadline; Reset should not block beyond
// ctx.
//
// A nil error means the next call may proceed (the interrupted record still
// fails with ErrStageTimeout and takes the on_error policy). A non-nil error
// means the instance cannot go on: the engine stops the pipeline whatever
// the on_error policy, with a *StageError for the interrupted record whose
// error wraps ErrFatal and Reset's error, and still calls Close. An instance
// that does not implement Resetter is called again as it is after a
// timeout, so it must survive an interrupted call by itself.
type Resetter interface {
	Reset(ctx context.Context) error
}

// BatchTransformer is the fast path for kinds whose per-call cost dominates
// (wasm, rpc, scripts that loop inside the VM): one call per batch instead of
// one per record. The engine prefers it over Transform when an instance
// implements it.
//
// TransformBatch reports, for every input record recs[i], what became of it
// through out: out.Emit(i, r) for each record it emits (zero, one or many),
// out.Fail(i, err) if the record fails. Calls for record i must come before
// calls for record j > i. A record with neither emits nor a failure is dropped.
//
// A non-nil error means the whole call failed (a trap, a crash, a timeout):
// the engine then discards out and re-runs the batch one record at a time,
// each in its own TransformBatch call with its own timeout, so that only the
// culprit record takes the stage's on_error policy. A kind that cannot go on
// at all (a plugin that cannot be restarted) returns an error wrapped with
// Fatal to stop the pipeline instead.
//
// ctx's deadline covers the whole call: it is the stage's per-record timeout
// (see the package documentation on timeouts).
type BatchTransformer interface {
	TransformBatch(ctx context.Context, recs []*Record, out *BatchResult) error
}

// BatchResult collects the outcome of one TransformBatch call.
//
// A transformer only calls Emit and Fail. The engine (or whatever calls
// TransformBatch: a test, an adapter) calls Reset before the call and reads
// the outcome after it with Err, Records, Source, NumFailed and Failed.
// The zero BatchResult is ready for a call on an empty batch; a BatchResult
// is not safe for concurrent use.
type BatchResult struct {
	n     int
	last  int
	recs  []*Record
	from  []int32
	fails []indexedErr
	bad   error
}

type indexedErr struct {
	i   int
	err error
}

// Reset prepares b for a TransformBatch call on n records: it forgets every
// earlier result (and drops its references to emitted records) but keeps
// the memory it allocated.
func (b *BatchResult) Reset(n int) {
	b.n, b.last = n, 0
	clear(b.recs)
	clear(b.fails)
	b.recs, b.from, b.fails, b.bad = b.recs[:0], b.from[:0], b.fails[:0], nil
}

func (b *BatchResult) check(i int) bool {
	if b.bad != nil {
		return false
	}
	if i < 0 || i >= b.n {
		b.bad = fmt.Errorf("batch result names record %d of a batch of %d", i, b.n)
		return false
	}
	if i < b.last {
		b.bad = fmt.Errorf("batch result for record %d came after record %d", i, b.last)
		return false
	}
	b.last = i
	return true
}

// Emit records that input record i produced r.
func (b *BatchResult) Emit(i int, r *Record) {
	if b.check(i) {
		b.recs = append(b.recs, r)
		b.from = append(b.from, int32(i))
	}
}

// Fail records that input record i failed with err.
func (b *BatchResult) Fail(i int, err error) {
	if err == nil {
		err = errors.New("record failed with no error message")
	}
	if b.check(i) {
		b.fails = append(b.fails, indexedErr{i, err})
	}
}

// Err reports a misuse of b by the transformer since the last Reset: an
// Emit or Fail naming a record outside the batch, or naming record i after
// a call for a record j > i. The first misuse is kept and every later Emit
// or Fail is ignored; the engine treats a non-nil Err as a failure of the
// whole call.
func (b *BatchResult) Err() error { return b.bad }

// Records returns the records emitted since the last Reset, in emit order.
// The slice is b's own: it is valid until the next Reset and must not be
// appended to.
func (b *BatchResult) Records() []*Record { return b.recs }

// Source returns the index i of the input record that emitted Records()[k]
// (0 <= k < len(Records())). Indexes never decrease with k.
func (b *BatchResult) Source(k int) int { return int(b.from[k]) }

// NumFailed returns how many Fail calls were recorded since the last Reset.
func (b *BatchResult) NumFailed() int { return len(b.fails) }

// Failed returns the k-th failure (0 <= k < NumFailed()): the index i of the
// input record and its error (never nil). Failures come in call order, so
// their input indexes never decrease; a record failed twice appears twice.
func (b *BatchResult) Failed(k int) (i int, err error) { return b.fails[k].i, b.fails[k].err }

// ErrFatal marks errors that stop the pipeline whatever the stage's on_error
// policy (for example an rpc plugin that cannot be restarted). Wrap with Fatal.
var ErrFatal = errors.New("fatal")

type fatalError struct{ err error }

func (e fatalError) Error() string        { return e.err.Error() }
func (e fatalError) Unwrap() []error      { return []error{e.err, ErrFatal} }
func (e fatalError) Is(target error) bool { return target == ErrFatal }

// Fatal wraps err so that errors.Is(err, ErrFatal) holds: returned from
// Transform, TransformBatch or Flush, it stops the pipeline (exit 1) whatever
// the on_error policy.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return fatalError{err}
}

// Interface guards.
var _ Transformer = TransformerFunc(nil)
