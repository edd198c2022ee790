package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// watchdogTicks is how many watchdog ticks make one timeout.
const watchdogTicks = 4

// batchSlack is how many times its expected duration a batch call may take
// before it is cut off (see watchdog.batchBudget).
const batchSlack = 4

// watchdog enforces one worker's per-record timeout. It has one timer that
// ticks every timeout/watchdogTicks while calls run. Each call bumps gen;
// a tick that sees the same call running for more than limit ticks
// cancels it, so an overrun is cut off between 1 and 1.25 times the
// timeout. A call costs two atomic stores and a load (state, timerOn), no
// lock, no clock read (58ns on a kvm-clock VM) and no timer reset; the
// context it gets is replaced only after it fired. Calls whose budget
// differs from the last one's (batch calls) or that were asked for a
// deadline take mu to set them.
type watchdog struct {
	timeout time.Duration
	parent  context.Context
	err     *timeoutError
	timer   *time.Timer
	cur     *callCtx // the context calls get; replaced once it is done (worker only)
	gen     uint64   // calls begun (worker only; state carries it to fire)

	// state is the running call as fire sees it: gen<<2 | cut<<1 | armed.
	// The worker sets it when a call begins and ends (Swap: it learns
	// whether fire cut the call off); fire claims a call it cuts off by
	// setting cut with a CompareAndSwap, so it never cancels a call that
	// ended.
	state atomic.Uint64
	// ctx is cur for fire: the context it cancels.
	ctx atomic.Pointer[callCtx]
	// timerOn: the timer is pending or its function is running. A call
	// stores state then loads timerOn; fire, finding no call, stores
	// timerOn then loads state: one of them sees the other, so a call
	// never runs without the timer.
	timerOn atomic.Bool
	// wantDeadline: a transformer asked for a deadline (ctx.Deadline), so
	// every later call reads the clock when it begins. Transformers that
	// never ask pay nothing for it.
	wantDeadline atomic.Bool

	mu        sync.Mutex
	seenGen   uint64        // the call the last tick saw
	seenTicks int           // for how many ticks it has been seen running
	deadline  time.Time     // the running call's deadline, once asked for
	budget    time.Duration // the running call's: the timeout, more for a batch (written under mu by the worker)
	limit     int           // ticks after which the running call is cut off

	// Batch calls (owned by the worker's goroutine, not under mu): perRec
	// is the moving average of what one record cost in the worker's batch
	// calls that ended in time (0: none yet); batchN and started are the
	// running batch call's size and start.
	perRec  time.Duration
	batchN  int
	started time.Time
}

const (
	armedBit = 1 // state: a call is running
	cutBit   = 2 // state: fire cut it off (it cancels ctx right after)
)

// timeoutError is the cause of a call cut off by its stage's timeout: it
// matches both ErrStageTimeout and context.DeadlineExceeded.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string   { return ErrStageTimeout.Error() + " after " + e.after.String() }
func (e *timeoutError) Unwrap() []error { return []error{ErrStageTimeout, context.DeadlineExceeded} }

// callCtx is the context of one Transform, TransformBatch or Flush call of
// a stage with a timeout. It is a cancel context (Done, Value, and
// context.Cause, which after a timeout is an error matching
// ErrStageTimeout and context.DeadlineExceeded) whose Deadline is the
// running call's deadline and whose Err is context.DeadlineExceeded once
// the timeout cut the call off. One callCtx serves the calls of a worker
// until it is done, so a call allocates nothing.
//
// Contexts derived from it (context.WithTimeout(ctx, ...)) are its
// children: they are cancelled with it, their Deadline is at most the
// call's, their Cause is the timeout error, but their Err reads
// context.Canceled (the standard library sets that for a cancelled parent
// that is not a timer context).
type callCtx struct {
	context.Context
	done   <-chan struct{} // Context.Done(), kept: a Lua VM asks per instruction
	cancel context.CancelCauseFunc
	wd     *watchdog
}

// Done is the cancel context's: closed when the call times out or the run
// aborts.
func (c *callCtx) Done() <-chan struct{} { return c.done }

// Deadline returns the running call's deadline: its start plus the stage's
// timeout. The first call that asks gets the time of asking plus the
// timeout (the call's start was not read, to keep calls cheap); every
// later call of the worker gets its exact deadline.
func (c *callCtx) Deadline() (time.Time, bool) {
	wd := c.wd
	wd.mu.Lock()
	defer wd.mu.Unlock()
	wd.wantDeadline.Store(true)
	if wd.deadline.IsZero() {
		wd.deadline = time.Now().Add(wd.budget)
	}
	return wd.deadline, true
}

// Err is context.DeadlineExceeded after a timeout, the cancellation's
// error otherwise.
func (c *callCtx) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), ErrStageTimeout) {
		return context.DeadlineExceeded
	}
	return err
}

// newWatchdog returns the watchdog of a worker whose calls run on parent,
// or nil when timeout is 0 (no timeout: calls get parent itself).
func newWatchdog(parent context.Context, timeout time.Duration) *watchdog {
	if timeout <= 0 {
		return nil
	}
	wd := &watchdog{timeout: timeout, parent: parent, err: &timeoutError{timeout}}
	wd.timer = time.AfterFunc(time.Hour, wd.fire)
	wd.timer.Stop()
	return wd
}

func (wd *watchdog) tick() time.Duration { return max(wd.timeout/watchdogTicks, time.Microsecond) }

// fire runs when the timer fires.
func (wd *watchdog) fire() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	st := wd.state.Load()
	if st&armedBit == 0 || st&cutBit != 0 {
		wd.timerOn.Store(false) // idle: the next call re-arms
		if st2 := wd.state.Load(); st2 != st && st2&armedBit != 0 && st2&cutBit == 0 {
			// A call began after the load above and may have seen
			// timerOn still true: keep ticking for it.
			wd.timerOn.Store(true)
			wd.seenGen, wd.seenTicks = st2>>2, 1
			wd.timer.Reset(wd.tick())
		}
		return
	}
	if gen := st >> 2; gen != wd.seenGen {
		wd.seenGen, wd.seenTicks = gen, 0
	}
	wd.seenTicks++
	// Seen at k ticks, a call has run at least (k-1) ticks' time.
	if wd.seenTicks <= wd.limit {
		wd.timer.Reset(wd.tick())
		return
	}
	if !wd.state.CompareAndSwap(st, st|cutBit) {
		// The call ended (or the next began) meanwhile: look again a
		// tick later.
		wd.timer.Reset(wd.tick())
		return
	}
	err := wd.err
	if wd.budget != wd.timeout {
		err = &timeoutError{wd.budget} // a batch call's
	}
	// timerOn goes false before the cancellation lets the worker go on:
	// its next call must see it and start the timer (under mu, so after
	// this returns), or it would run unwatched.
	wd.timerOn.Store(false)
	wd.ctx.Load().cancel(err)
}

// begin returns the context for one call, armed with the timeout.
func (wd *watchdog) begin() context.Context {
	wd.batchN = 0
	return wd.arm(wd.timeout)
}

// beginBatch returns the context for one TransformBatch call of n records,
// armed with batchBudget(n); the call's duration, if it ends in time
// (ended), refines the estimate of a record's cost.
func (wd *watchdog) beginBatch(n int) context.Context {
	wd.batchN = n
	wd.started = time.Now()
	return wd.arm(wd.batchBudget(n))
}

// batchBudget is the time a batch call of n records may take: batchSlack
// times what n records took on average in this worker's earlier batch calls,
// at least the timeout (what one record may take) and at most n times it
// (what the n records may take one by one). Before any batch call ended in
// time it is the timeout: a first batch that overruns it is re-run record by
// record (culprit finding), and those calls teach the estimate. So a plugin
// at 90µs a record with timeout: 30ms gets about 370ms for a batch of 1024
// instead of being cut off at 30ms on every batch, while a stuck record is
// cut off after the batch's budget and then, re-run alone, within its own
// timeout.
func (wd *watchdog) batchBudget(n int) time.Duration {
	per := min(batchSlack*wd.perRec, wd.timeout)
	return max(time.Duration(n)*per, wd.timeout)
}

// ended records the duration of a call that ended in time: for a batch
// call, it updates the per-record estimate (a moving average over about
// four calls).
func (wd *watchdog) ended() {
	if wd.batchN <= 0 {
		return
	}
	per := time.Since(wd.started) / time.Duration(wd.batchN)
	if wd.perRec == 0 {
		wd.perRec = per
	} else {
		wd.perRec += (per - wd.perRec) / 4
	}
	wd.batchN = 0
}

// arm returns the context for one call that may run for budget.
func (wd *watchdog) arm(budget time.Duration) context.Context {
	if wd.cur == nil || wd.cur.Context.Err() != nil {
		ctx, cancel := context.WithCancelCause(wd.parent)
		wd.cur = &callCtx{Context: ctx, done: ctx.Done(), cancel: cancel, wd: wd}
		wd.ctx.Store(wd.cur)
	}
	wd.gen++
	if budget == wd.budget && !wd.wantDeadline.Load() {
		// The common case: a call like the last (limit stands), no
		// deadline to compute. No lock.
		wd.state.Store(wd.gen<<2 | armedBit)
		if !wd.timerOn.Load() {
			wd.mu.Lock()
			wd.startTimer()
			wd.mu.Unlock()
		}
		return wd.cur
	}
	wd.mu.Lock()
	wd.budget = budget
	// Cut off after more than budget/tick ticks: between budget and
	// budget plus a tick after the start.
	wd.limit = max(watchdogTicks, int((budget+wd.tick()-1)/wd.tick()))
	if wd.wantDeadline.Load() { // (else it stays zero: never asked for)
		wd.deadline = time.Now().Add(budget)
	}
	wd.state.Store(wd.gen<<2 | armedBit)
	wd.startTimer()
	wd.mu.Unlock()
	return wd.cur
}

// startTimer starts the timer for the call just armed unless it runs
// (under mu).
func (wd *watchdog) startTimer() {
	if wd.timerOn.Load() {
		return
	}
	wd.timerOn.Store(true)
	wd.seenGen, wd.seenTicks = wd.gen, 1 // the first tick comes a full tick after the start
	wd.timer.Reset(wd.tick())
}

// disarm ends the running call for the watchdog: from here on it cannot
// cancel it. It reports whether the watchdog cut the call off, having
// waited for the cancellation to land.
func (wd *watchdog) disarm() (cut bool) {
	if wd.state.Swap(wd.gen<<2)&cutBit == 0 {
		return false
	}
	<-wd.cur.done // fire cancels right after claiming the call
	return true
}

// end decides the outcome of a call that worker.end disarmed and found
// cancelled, or failed with a deadline given: the timeout error for a call
// the watchdog cut off (whatever it returned: its output is not trusted;
// interrupted is then true) or that failed after the deadline it was told.
func (wd *watchdog) end(err error) (_ error, interrupted bool) {
	c := wd.cur
	if c.Context.Err() != nil {
		wd.cur = nil
		if cause := context.Cause(c.Context); errors.Is(cause, ErrStageTimeout) && wd.parent.Err() == nil {
			return cause, true
		}
		return err, false
	}
	wd.mu.Lock()
	deadline := wd.deadline
	wd.mu.Unlock()
	if err != nil && !deadline.IsZero() && !time.Now().Before(deadline) && wd.parent.Err() == nil {
		// It gave up at the deadline it was told (an rpc plugin's gRPC
		// deadline) before the watchdog cut it off.
		return wd.err, false
	}
	return err, false
}

// stop releases the timer and the context.
func (wd *watchdog) stop() {
	wd.timer.Stop()
	if wd.cur != nil {
		wd.cur.cancel(nil)
	}
}
