package engine

import (
	"context"

	"errors"
	"fmt"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// queueDepth is how many batches wait between two stages.
const queueDepth = 4

type counters struct {
	in, inBytes, passed, out, dropped, errors, dead, timeouts, busy atomic.Int64
	batches                                                         [len(LatencyBuckets) + 1]atomic.Int64
}

// LatencyBuckets are the upper bounds of the batch latency histogram of
// StageStats (the time a stage takes for one batch).
var LatencyBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

func (c *counters) observe(d time.Duration) {
	c.busy.Add(int64(d))
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	c.batches[i].Add(1)
}

func (c *counters) snapshot(name, kind string) StageStats {
	st := StageStats{Name: name, Kind: kind, In: c.in.Load(), InBytes: c.inBytes.Load(), Passed: c.passed.Load(), Out: c.out.Load(),
		Dropped: c.dropped.Load(), Errors: c.errors.Load(), DeadLettered: c.dead.Load(),
		Timeouts: c.timeouts.Load(), Busy: c.busy.Load()}
	for i := range c.batches {
		if n := c.batches[i].Load(); n > 0 || st.BatchLatency != nil {
			if st.BatchLatency == nil {
				st.BatchLatency = make([]int64, len(c.batches))
			}
			st.BatchLatency[i] = n
		}
	}
	return st
}

// batch is the unit that moves between stages. Input records live in store
// and their bytes in arena, both reused once the batch is written.
type batch struct {
	recs  []*Record
	spare []*Record
	store []Record
	arena []byte
	final bool // a worker's flush output: the last batch it sends
	last  bool // a failing worker's partial output: nothing follows
}

var batchPool = sync.Pool{New: func() any {
	return &batch{recs: make([]*Record, 0, DefaultBatchRecords), store: make([]Record, 0, DefaultBatchRecords),
		arena: make([]byte, 0, DefaultBatchBytes+DefaultBatchBytes/4)}
}}

func getBatch() *batch { return batchPool.Get().(*batch) }

func putBatch(b *batch) {
	if cap(b.arena) > 4*DefaultBatchBytes || cap(b.store) > 4*DefaultBatchRecords {
		return // do not keep oversized batches
	}
	clear(b.recs)
	clear(b.spare)
	// b.store is not cleared: add overwrites every field of a record it
	// reuses, and clearing 48 KiB per batch cost W0 40% of its time.
	b.recs, b.spare, b.store, b.arena, b.final, b.last = b.recs[:0], b.spare[:0], b.store[:0], b.arena[:0], false, false
	batchPool.Put(b)
}

// add appends a record whose bytes are copied into the arena.
// The arena keeps a newline after each record, so that the output can
// write runs of untouched records with one write (see writerSink).
func (b *batch) add(data []byte, num int64) {
	start := len(b.arena)
	b.arena = append(b.arena, data...)
	end := len(b.arena)
	b.arena = append(b.arena, '\n')
	// Fields are set in place: appending a Record literal costs a
	// typedmemmove per record (the struct holds pointers).
	if len(b.store) < cap(b.store) {
		b.store = b.store[:len(b.store)+1]
	} else {
		b.store = append(b.store, Record{})
	}
	r := &b.store[len(b.store)-1]
	r.Data = b.arena[start:end:end]
	r.SetNumber(num)
	if r.Meta != nil {
		r.Meta = nil
	}
	// store may have grown: re-point recs at it.
	if &b.store[0] != firstPtr(b.recs) {
		b.recs = b.recs[:0]
		for i := range b.store[:len(b.store)-1] {
			b.recs = append(b.recs, &b.store[i])
		}
	}
	b.recs = append(b.recs, &b.store[len(b.store)-1])
}

// addRef appends a record whose bytes are b.arena[start:end] (no copy).
func (b *batch) addRef(start, end int, num int64) {
	if len(b.store) < cap(b.store) {
		b.store = b.store[:len(b.store)+1]
	} else {
		b.store = append(b.store, Record{})
		b.recs = b.recs[:0]
		for i := range b.store[:len(b.store)-1] {
			b.recs = append(b.recs, &b.store[i])
		}
	}
	r := &b.store[len(b.store)-1]
	r.Data = b.arena[start:end:end]
	r.SetNumber(num)
	if r.Meta != nil {
		r.Meta = nil
	}
	b.recs = append(b.recs, r)
}

func firstPtr(r []*Record) *Record {
	if len(r) == 0 {
		return nil
	}
	return r[0]
}

// fits reports whether n more bytes fit the batch without growing it.
func (b *batch) full(n int) bool {
	return len(b.store) >= DefaultBatchRecords || (len(b.arena) > 0 && len(b.arena)+n > DefaultBatchBytes)
}

// stageExec is one stage of a running pipeline: the decorator that every
// transformer is wrapped in (timeout, on_error, counts, order).
type stageExec struct {
	spec       *StageSpec
	events     *StageEvents
	schema     *jsonschema.Schema // validates records entering the stage
	level      int                // index + 1, in runState.stops
	name, kind string
	stage      Stage
	timeout    time.Duration
	onError    string
	workers    int
	maxBytes   int
	log        *slog.Logger
}

// runState is shared by the goroutines of one run.
//
// Failures: when stage i fails (a record under on_error: fail, a fatal
// error), it hands on what it produced before the failing record and stops
// its upstream (stops[0..i+1]): the input stops reading and the stages
// before it stop sending. The stages after it drain what they were given,
// without flushing, and the output writes it all, as jq or awk would. Only
// an output failure (a closed pipe, a write error) aborts everything at once.
type runState struct {
	ctx    context.Context // abort: cancelled when the run must end at once
	cancel context.CancelCauseFunc
	dl     *deadLetter
	stops  []chan struct{} // stops[0]: the input; stops[i+1]: stage i
	mu     sync.Mutex
	err    error
	level  int       // how many stops are closed
	root   *runState // live runs: the run's own state, when this one is a chain's
}

// chain returns the state of one chain of stages of a live run: its own
// stops, while errors and the input's stop are the run's.
func (rs *runState) chain(stages int) *runState {
	c := newRunState(rs.ctx, rs.cancel, stages)
	c.dl, c.root = rs.dl, rs
	return c
}

func newRunState(ctx context.Context, cancel context.CancelCauseFunc, stages int) *runState {
	rs := &runState{ctx: ctx, cancel: cancel, stops: make([]chan struct{}, stages+1)}
	for i := range rs.stops {
		rs.stops[i] = make(chan struct{})
	}
	return rs
}

// failAt records err (the first error wins) and stops level and everything
// upstream of it (level 0 is the input, level i+1 stage i).
func (rs *runState) failAt(level int, err error) {
	rs.mu.Lock()
	if rs.err == nil {
		rs.err = err
	}
	for ; rs.level <= level && rs.level < len(rs.stops); rs.level++ {
		close(rs.stops[rs.level])
	}
	rs.mu.Unlock()
	if rs.root != nil {
		rs.root.failAt(0, err) // a chain's failure stops the whole input
	}
}

// abort records err and ends everything at once.
func (rs *runState) abort(err error) {
	if rs.root != nil {
		rs.root.abort(err)
		return
	}
	rs.mu.Lock()
	if rs.err == nil {
		rs.err = err
	}
	rs.mu.Unlock()
	rs.cancel(err)
}

func (rs *runState) failed() bool {
	if rs.root != nil {
		return rs.root.failed()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.err != nil
}

func (rs *runState) firstErr() error {
	if rs.root != nil {
		return rs.root.firstErr()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.err
}

// stop returns the channel closed when level stops; beyond the last stage
// (the output) it is nil, which never fires.
func (rs *runState) stop(level int) <-chan struct{} {
	if level < len(rs.stops) {
		return rs.stops[level]
	}
	return nil
}

// send delivers b on ch unless the receiver (at level) stopped or the run
// aborted; otherwise it recycles b and reports false.
func (rs *runState) send(ch chan<- *batch, b *batch, level int) bool {
	select {
	case ch <- b:
		return true
	case <-rs.stop(level):
	case <-rs.ctx.Done():
	}
	putBatch(b)
	return false
}

type worker struct {
	level  int // in runState.stops
	st     *stageExec
	rs     *runState
	c      *counters
	t      Transformer
	bt     BatchTransformer
	parent context.Context

	// per-record timeout machinery: one watchdog timer per worker, ticking
	// every timeout/watchdogTicks while calls run. Each call bumps gen
	// under mu; a tick that sees the same call running for more than
	// watchdogTicks ticks cancels it, so an overrun is cut off between 1 and
	// 1.25 times the timeout. A call costs an uncontended lock, no clock
	// read (58ns on a kvm-clock VM) and no timer reset.
	timer      *time.Timer
	mu         sync.Mutex
	armed      *attempt // the running call's attempt; nil when idle
	gen        uint64   // calls begun
	seenGen    uint64   // the call the last tick saw
	seenTicks  int      // for how many ticks it has been seen running
	timerOn    bool     // the timer is pending or its function is running
	timeoutErr error
	cur        *attempt

	// per-batch counts, added to the shared counters once per batch
	nPassed, nOut, nDropped int64

	curIn   *Record
	pending []*Record
	emitFn  func(*Record)
	res     BatchResult
	sel     []*Record
	selIdx  []int
}

type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newWorker(st *stageExec, rs *runState, c *counters, t Transformer) *worker {
	w := &worker{st: st, rs: rs, c: c, t: t, parent: rs.ctx, level: st.level}
	w.bt, _ = t.(BatchTransformer)
	w.emitFn = func(r *Record) {
		if r == nil {
			return
		}
		in := w.curIn
		if r != in {
			if r.Meta == nil && len(in.Meta) > 0 {
				r.Meta = maps.Clone(in.Meta)
			}
			if r.Number() == 0 {
				r.SetNumber(in.Number())
			}
		}
		w.pending = append(w.pending, r)
	}
	if st.timeout > 0 {
		w.timeoutErr = fmt.Errorf("%w after %s", ErrStageTimeout, st.timeout)
		w.timer = time.AfterFunc(time.Hour, w.watchdog)
		w.timer.Stop()
	}
	return w
}

// watchdogTicks is how many watchdog ticks make one timeout.
const watchdogTicks = 4

func (w *worker) tick() time.Duration { return max(w.st.timeout/watchdogTicks, time.Microsecond) }

// watchdog runs when the worker's timer fires.
func (w *worker) watchdog() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed == nil {
		w.timerOn = false // idle: the next call re-arms
		return
	}
	if w.gen != w.seenGen {
		w.seenGen, w.seenTicks = w.gen, 0
	}
	w.seenTicks++
	// Seen at k ticks, a call has run at least (k-1) ticks' time.
	if w.seenTicks <= watchdogTicks {
		w.timer.Reset(w.tick())
		return
	}
	w.armed.cancel(w.timeoutErr)
	w.armed = nil
	w.timerOn = false
}

// begin returns the context for one call, armed with the stage timeout.
func (w *worker) begin() context.Context {
	if w.timer == nil {
		return w.parent
	}
	if w.cur == nil || w.cur.ctx.Err() != nil {
		ctx, cancel := context.WithCancelCause(w.parent)
		w.cur = &attempt{ctx: ctx, cancel: cancel}
	}
	w.mu.Lock()
	w.armed = w.cur
	w.gen++
	if !w.timerOn {
		w.timerOn = true
		w.seenGen, w.seenTicks = w.gen, 1 // the first tick comes a full tick after the start
		w.timer.Reset(w.tick())
	}
	w.mu.Unlock()
	return w.cur.ctx
}

// end disarms the timer and maps an error caused by the timeout to
// ErrStageTimeout.
func (w *worker) end(err error) error {
	if w.timer == nil {
		return err
	}
	w.mu.Lock()
	w.armed = nil // from here on the watchdog cannot cancel this call
	w.mu.Unlock()
	a := w.cur
	if a.ctx.Err() != nil {
		w.cur = nil
		if cause := context.Cause(a.ctx); errors.Is(cause, ErrStageTimeout) && w.parent.Err() == nil {
			// A call that returned after its deadline was cut short,
			// whatever it returned: its output is not trusted.
			if rerr := w.reset(); rerr != nil {
				return rerr
			}
			return cause
		}
	}
	return err
}

func (w *worker) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.cur != nil {
		w.cur.cancel(nil)
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
	var err error
	if w.bt != nil {
		err = w.processBatch(b)
	} else {
		err = w.processRecords(b)
	}
	b.recs, b.spare = b.spare, b.recs
	return err
}

// admit checks a record entering the stage: its size, then its schema.
func (w *worker) admit(rec *Record) error {
	if len(rec.Data) > w.st.maxBytes {
		return fmt.Errorf("%w: %d bytes (max_record_bytes is %s)", ErrRecordTooLarge, len(rec.Data), ByteSize(w.st.maxBytes))
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
	w.sel, w.selIdx = w.sel[:0], w.selIdx[:0]
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
	w.res.Reset(len(w.sel))
	ctx := w.begin()
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
		ctx := w.begin()
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
			o := recs[k]
			if o != rec {
				if o.Meta == nil && len(rec.Meta) > 0 {
					o.Meta = maps.Clone(rec.Meta)
				}
				if o.Number() == 0 {
					o.SetNumber(rec.Number())
				}
			}
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
	return &StageError{Stage: w.st.name, Kind: w.st.kind, Op: op, Record: num, Err: err}
}

// failed applies the stage's on_error policy to a failed record; it returns
// an error when the pipeline must stop.
func (w *worker) failed(rec *Record, err error) error {
	if errors.Is(err, ErrFatal) {
		return w.stageErr(rec.Number(), "transform", err)
	}
	w.c.errors.Add(1)
	if errors.Is(err, ErrStageTimeout) {
		w.c.timeouts.Add(1)
	}
	serr := w.stageErr(rec.Number(), "transform", err)
	switch w.st.onError {
	case OnErrorDrop:
		w.st.log.Debug("record dropped after error", "record", rec.Number(), "err", err)
		return nil
	case OnErrorDeadLetter:
		if dlErr := w.rs.dl.write(w.st.name, rec, err); dlErr != nil {
			return dlErr
		}
		w.c.dead.Add(1)
		return nil
	}
	return serr
}

// flush calls the instance's Flush; its records go into a final batch.
func (w *worker) flush() (*batch, error) {
	b := getBatch()
	b.final = true
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
		if w.st.onError == OnErrorFail || errors.Is(err, ErrFatal) {
			return b, w.stageErr(0, "flush", err)
		}
		w.c.errors.Add(1)
		w.st.log.Error("flush failed", "err", err)
		if w.st.onError == OnErrorDeadLetter {
			if dlErr := w.rs.dl.write(w.st.name, nil, err); dlErr != nil {
				return b, dlErr
			}
			w.c.dead.Add(1)
		}
		return b, nil
	}
	w.c.out.Add(int64(len(w.pending)))
	b.recs = append(b.recs, w.pending...)
	clear(w.pending)
	return b, nil
}

// run starts the stage's workers between in and out. level is the stage's
// index + 1 in runState.stops.
func (st *stageExec) run(rs *runState, level int, c *counters, insts []Transformer, in <-chan *batch, out chan<- *batch, wg *sync.WaitGroup) {
	workers := make([]*worker, len(insts))
	for i, t := range insts {
		workers[i] = newWorker(st, rs, c, t)
	}
	if len(workers) == 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(out)
			w := workers[0]
			defer w.stop()
			if fb := w.loop(in, func(b *batch) bool { return rs.send(out, b, level+1) }); fb != nil {
				if len(fb.recs) == 0 {
					putBatch(fb)
				} else {
					rs.send(out, fb, level+1)
				}
			}
		}()
		return
	}
	// Several workers: batches go round-robin to the workers and are
	// collected in the same order, so the output order is the input order.
	n := len(workers)
	ins := make([]chan *batch, n)
	outs := make([]chan *batch, n)
	for i := range ins {
		ins[i] = make(chan *batch, 1)
		outs[i] = make(chan *batch, 1)
	}
	wg.Add(2 + n)
	go func() { // dispatcher
		defer wg.Done()
		defer func() {
			for _, ch := range ins {
				close(ch)
			}
		}()
		k := 0
		for b := range in {
			if !rs.send(ins[k], b, level) {
				return
			}
			k = (k + 1) % n
		}
	}()
	for i, w := range workers {
		go func() {
			defer wg.Done()
			defer close(outs[i])
			defer w.stop()
			// Towards the collector only an abort drops a batch: a batch
			// that precedes a failure must still reach the output.
			send := func(b *batch) bool { return rs.send(outs[i], b, len(rs.stops)) }
			if fb := w.loop(ins[i], send); fb != nil {
				send(fb)
			}
		}()
	}
	go func() { // collector
		defer wg.Done()
		defer close(out)
		defer func() { // let the workers finish whatever happened
			for _, ch := range outs {
				for b := range ch {
					putBatch(b)
				}
			}
		}()
		finals := make([]*batch, n)
		k := 0
		for {
			b, ok := <-outs[k]
			if !ok {
				return // the worker stopped
			}
			if b.last {
				rs.send(out, b, level+1) // what came before a failure
				return
			}
			if !b.final {
				if !rs.send(out, b, level+1) {
					return
				}
				k = (k + 1) % n
				continue
			}
			// Worker k is done, so every regular batch has been collected:
			// gather the other workers' flush batches and emit them in
			// worker order.
			finals[k] = b
			for j := range n {
				if finals[j] == nil {
					fb, ok := <-outs[j]
					if !ok {
						return
					}
					finals[j] = fb
				}
			}
			for i, fb := range finals {
				if len(fb.recs) == 0 || !rs.send(out, fb, level+1) {
					putBatch(fb)
					if len(fb.recs) != 0 {
						for _, rest := range finals[i+1:] {
							putBatch(rest)
						}
						return
					}
				}
			}
			return
		}
	}()
}

// loop processes the batches of in and sends them on. On a failure it
// sends what the failing batch produced before the failing record (marked
// last), stops the upstream and returns nil. At the end of input it returns
// the flush batch (nil if empty, or if the run failed: no aggregates of a
// partial stream).
func (w *worker) loop(in <-chan *batch, send func(*batch) bool) *batch {
	level := w.level
	for b := range in {
		if err := w.process(b); err != nil {
			b.last = true
			send(b)
			w.rs.failAt(level, err)
			return nil
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
	return fb
}
