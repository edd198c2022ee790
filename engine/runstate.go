package engine

import (
	"context"
	"sync"
)

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
