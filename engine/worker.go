package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pipe-dev/pipe/internal/jsonschema"
)

// stageExec is one stage of a built pipeline: the decorator that every
// transformer is wrapped in (timeout, on_error, counts, order). Its
// settings are the stage's plan.
type stageExec struct {
	plan   StagePlan
	spec   *StageSpec
	events *StageEvents
	schema *jsonschema.Schema // validates records entering the stage
	level  int                // index + 1, in runState.stops
	stage  Stage
	log    *slog.Logger
}

// worker runs one instance of a stage over the batches it is given.
type worker struct {
	level int // in runState.stops
	st    *stageExec
	rs    *runState
	c     *counters
	t     Transformer
	bt    BatchTransformer
	wd    *watchdog  // nil without a timeout
	tick  *ticking   // the clock of a stage.Ticker; nil when none (ticker.go)
	ret   *retention // acknowledgements held for a stage.Retainer; nil when none (retain.go)
	given int64      // records given to the instance for the current batch
	// json is the instance's JSONOutput guarantee; allJSON whether every
	// batch it was handed so far was known JSON (for Flush and Tick).
	json    JSONGuarantee
	allJSON bool
	// parent is the context of the stage's calls (the run's): a Reset
	// after a timeout runs on it.
	parent context.Context

	// per-batch counts, added to the shared counters once per batch
	nPassed, nOut, nDropped int64

	curIn   *Record
	pending []*Record
	emitFn  func(*Record)
	res     BatchResult
	sel     []*Record
	arena   OutputArena // nil when the instance takes none (arena.go)
}

func newWorker(st *stageExec, rs *runState, c *counters, t Transformer) *worker {
	w := &worker{st: st, rs: rs, c: c, t: t, level: st.level, wd: newWatchdog(rs.ctx, st.plan.Timeout), parent: rs.ctx}
	w.bt, _ = t.(BatchTransformer)
	w.arena, _ = t.(OutputArena)
	w.json, w.allJSON = jsonGuarantee(t), true
	w.ret = newRetention(t)
	w.emitFn = func(r *Record) {
		if r == nil {
			return
		}
		inherit(r, w.curIn)
		w.pending = append(w.pending, r)
	}
	return w
}

// begin returns the context for one call: with the stage's timeout armed.
func (w *worker) begin() context.Context {
	if w.wd == nil {
		return w.rs.ctx
	}
	return w.wd.begin()
}

// beginBatch returns the context for one batch call of n records: with a
// deadline that scales with n (watchdog.batchBudget).
func (w *worker) beginBatch(n int) context.Context {
	if w.wd == nil {
		return w.rs.ctx
	}
	return w.wd.beginBatch(n)
}

// end returns a call's error, the timeout error for a call that timed out
// (see watchdog.end); an instance that its timeout interrupted is reset
// (stage.Resetter) before its next call.
func (w *worker) end(err error) error {
	wd := w.wd
	if wd == nil {
		return err
	}
	wd.disarm() // from here on the watchdog cannot cancel this call
	asked := wd.wantDeadline.Load()
	if wd.cur.Context.Err() == nil && (err == nil || !asked) {
		if err == nil {
			wd.ended()
		}
		return err // the common case: in time
	}
	err, interrupted := wd.end(err)
	if interrupted {
		if rerr := w.reset(); rerr != nil {
			return rerr
		}
	}
	return err
}

func (w *worker) stop() {
	if w.tick != nil {
		w.tick.t.Stop()
	}
	if w.wd != nil {
		w.wd.stop()
	}
}

// process runs one batch through the worker's transformer; it returns an
// error only when the pipeline must stop.
func (w *worker) process(b *batch) error {
	start := time.Now()
	defer func() { w.c.observe(time.Since(start)) }()
	b.final = false // an upstream stage's flush output is ordinary input here
	w.c.in.Add(int64(len(b.recs)))
	var size int
	for _, r := range b.recs {
		size += len(r.Data)
	}
	w.c.inBytes.Add(int64(size))
	defer func() {
		w.c.passed.Add(w.nPassed)
		w.c.out.Add(w.nOut)
		w.c.dropped.Add(w.nDropped)
		w.nPassed, w.nOut, w.nDropped = 0, 0, 0
	}()
	b.spare = b.spare[:0]
	w.given = 0
	var err error
	if w.bt != nil {
		err = w.processBatch(b)
	} else {
		err = w.processRecords(b)
	}
	b.recs, b.spare = b.spare, b.recs
	w.allJSON = w.allJSON && b.json
	b.json = outputJSON(w.json, b.json)
	return err
}

// admit checks a record entering the stage: its size, then its schema.
func (w *worker) admit(rec *Record) error {
	if max := w.st.plan.MaxRecordBytes; ByteSize(len(rec.Data)) > max {
		return fmt.Errorf("%w: %d bytes (max_record_bytes is %s)", ErrRecordTooLarge, len(rec.Data), max)
	}
	if w.st.schema != nil {
		return checkSchema(w.st.schema, rec.Data)
	}
	return nil
}

func (w *worker) processRecords(b *batch) error {
	for _, rec := range b.recs {
		if err := w.admit(rec); err != nil {
			if ferr := w.failed(rec, err); ferr != nil {
				return ferr
			}
			continue
		}
		w.curIn = rec
		w.pending = w.pending[:0]
		w.given++
		ctx := w.begin()
		err := w.t.Transform(ctx, rec, w.emitFn)
		err = w.end(err)
		if err != nil {
			clear(w.pending)
			if ferr := w.failed(rec, err); ferr != nil {
				return ferr
			}
			continue
		}
		w.passed(b, w.pending)
	}
	clear(w.pending)
	w.curIn = nil
	return nil
}

func (w *worker) passed(b *batch, out []*Record) {
	if len(out) == 0 {
		w.nDropped++
		return
	}
	w.nPassed++
	w.nOut += int64(len(out))
	b.spare = append(b.spare, out...)
}

func (w *worker) processBatch(b *batch) error {
	w.sel = w.sel[:0]
	for _, rec := range b.recs {
		if err := w.admit(rec); err != nil {
			if ferr := w.failed(rec, err); ferr != nil {
				return ferr
			}
			continue
		}
		w.sel = append(w.sel, rec)
	}
	if len(w.sel) == 0 {
		return nil
	}
	if w.arena != nil {
		if cap(b.out) == 0 {
			b.out = getOutArena()
		}
		w.arena.UseArena(&b.out)
		defer w.arena.UseArena(nil)
	}
	w.res.Reset(len(w.sel))
	w.given += int64(len(w.sel))
	ctx := w.beginBatch(len(w.sel))
	err := w.bt.TransformBatch(ctx, w.sel, &w.res)
	err = w.end(err)
	if err == nil && w.res.Err() != nil {
		err = w.res.Err()
	}
	if err == nil {
		return w.applyResult(b, w.sel)
	}
	if errors.Is(err, ErrFatal) {
		return w.stageErr(0, "transform", err)
	}
	if len(w.sel) > 1 {
		w.st.log.Debug("batch call failed; re-running record by record", "records", len(w.sel), "err", err)
	}
	// Culprit finding: one record per call, each with its own timeout.
	for _, rec := range w.sel {
		one := []*Record{rec}
		w.res.Reset(1)
		w.given++
		ctx := w.beginBatch(1)
		err := w.bt.TransformBatch(ctx, one, &w.res)
		err = w.end(err)
		if err == nil && w.res.Err() != nil {
			err = w.res.Err()
		}
		if err != nil {
			if ferr := w.failed(rec, err); ferr != nil {
				return ferr
			}
			continue
		}
		if err := w.applyResult(b, one); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) applyResult(b *batch, in []*Record) error {
	r := &w.res
	recs, nf := r.Records(), r.NumFailed()
	k, f := 0, 0
	for i, rec := range in {
		if fi, ferr := failedAt(r, f, nf); fi == i {
			err := ferr
			for f < nf {
				if fi, _ := r.Failed(f); fi != i {
					break
				}
				f++
			}
			for k < len(recs) && r.Source(k) == i {
				k++ // output of a failed record is discarded
			}
			if ferr := w.failed(rec, err); ferr != nil {
				return ferr
			}
			continue
		}
		start := k
		for k < len(recs) && r.Source(k) == i {
			inherit(recs[k], rec)
			k++
		}
		w.passed(b, recs[start:k])
	}
	r.Reset(0)
	return nil
}

// failedAt returns the f-th failure of r, or -1 when there is none left.
func failedAt(r *BatchResult, f, nf int) (int, error) {
	if f >= nf {
		return -1, nil
	}
	return r.Failed(f)
}

func (w *worker) stageErr(num int64, op string, err error) error {
	return &StageError{Stage: w.st.plan.Name, Kind: w.st.plan.Kind, Op: op, Record: num, Err: err}
}

// failed applies the stage's on_error policy to a failed record; it returns
// an error when the pipeline must stop.
func (w *worker) failed(rec *Record, err error) error {
	if errors.Is(err, ErrFatal) {
		return w.stageErr(rec.Number(), "transform", err)
	}
	if w.st.plan.OnError == OnErrorDrop {
		w.st.log.Debug("record dropped after error", "record", rec.Number(), "err", err)
	}
	return onError(w.st.plan.OnError, w.rs, w.c, w.st.plan.Name, rec, err, w.stageErr(rec.Number(), "transform", err))
}

// flush calls the instance's Flush; its records go into a final batch.
func (w *worker) flush() (*batch, error) {
	b := getBatch()
	b.final = true
	b.json = outputJSON(w.json, w.allJSON)
	f, ok := w.t.(Flusher)
	if !ok {
		return b, nil
	}
	flushRec := &Record{}
	w.curIn = flushRec
	w.pending = w.pending[:0]
	ctx := w.begin()
	err := f.Flush(ctx, w.emitFn)
	err = w.end(err)
	w.curIn = nil
	if err != nil {
		clear(w.pending)
		if errors.Is(err, ErrFatal) {
			return b, w.stageErr(0, "flush", err)
		}
		if w.st.plan.OnError != OnErrorFail {
			w.st.log.Error("flush failed", "err", err)
		}
		return b, onError(w.st.plan.OnError, w.rs, w.c, w.st.plan.Name, nil, err, w.stageErr(0, "flush", err))
	}
	w.c.out.Add(int64(len(w.pending)))
	b.recs = append(b.recs, w.pending...)
	clear(w.pending)
	return b, nil
}

// loop processes the batches of in and sends them on. On a failure it
// sends what the failing batch produced before the failing record (marked
// last), stops the upstream and returns nil. At the end of input it returns
// the flush batch (nil if empty, or if the run failed: no aggregates of a
// partial stream).
func (w *worker) loop(in <-chan *batch, send func(*batch) bool) *batch {
	level := w.level
	for {
		b, ok := w.receive(in, send) // with ticks between batches (ticker.go)
		if !ok {
			break
		}
		if err := w.process(b); err != nil {
			b.last = true
			send(b)
			w.rs.failAt(level, err)
			return nil
		}
		if w.ret != nil {
			w.ret.processed(b, w.given)
		}
		if !send(b) {
			return nil
		}
	}
	if w.rs.failed() || w.rs.ctx.Err() != nil {
		return nil
	}
	fb, err := w.flush()
	if err != nil {
		putBatch(fb)
		w.rs.failAt(level, err)
		return nil
	}
	if w.ret != nil {
		w.ret.flushed(fb)
	}
	return fb
}
