package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipe-dev/pipe/connector"
)

// Acknowledgements. The runner keeps the input's order through every stage
// and hands each input batch (the same *batch value, changed in place by
// the stages) to the output; so an input batch is delivered when the
// output has written (and flushed) that batch. The acker numbers the
// batches of one input in read order and calls their acknowledgements in
// that order, once everything before them was delivered: one watermark
// per input, no per-record bookkeeping.

// ackToken ties a batch to its entry in an acker (a zero token: untracked).
// A batch that a switch or fanout split holds a share of its parent's
// acknowledgement instead (n, see route_ack.go).
type ackToken struct {
	a   *acker
	seq uint64
	n   *ackShare
}

// done reports the batch delivered (err nil) or not.
func (t ackToken) done(err error) {
	switch {
	case t.n != nil:
		t.n.done(err)
	case t.a != nil:
		t.a.done(t.seq, err)
	}
}

// tracked reports whether someone waits for the batch's delivery.
func (t ackToken) tracked() bool { return t.a != nil || t.n != nil }

type ackEntry struct {
	fn   connector.AckFunc // nil: nothing to call (a part of a larger input batch)
	recs int64             // input records in the batch
	last int64             // number of its last input record
	done bool
	err  error
}

// acker calls an input's acknowledgements in read order, on a goroutine of
// its own.
type acker struct {
	log     *slog.Logger
	mu      sync.Mutex
	base    uint64 // seq of pending[0]
	pending []ackEntry
	closed  bool
	failed  error // the first failure: every later batch fails too
	wake    chan struct{}
	stopped chan struct{}

	// metrics
	acked, nacked, ackErrors atomic.Int64
	watermark                atomic.Int64 // number of the last input record acknowledged
	outstanding              atomic.Int64 // batches waiting for their acknowledgement
}

func newAcker(log *slog.Logger) *acker {
	a := &acker{log: log, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go a.loop()
	return a
}

// add registers a batch read from the input; fn is called once it and all
// batches before it are delivered. last is the number of its last record.
func (a *acker) add(fn connector.AckFunc, recs, last int64) ackToken {
	a.mu.Lock()
	if a.closed { // the run is over: never delivered
		a.mu.Unlock()
		if fn != nil {
			a.call(fn, fmt.Errorf("%w: the run ended", connector.ErrNotDelivered))
		}
		return ackToken{}
	}
	seq := a.base + uint64(len(a.pending))
	a.pending = append(a.pending, ackEntry{fn: fn, recs: recs, last: last})
	a.mu.Unlock()
	a.outstanding.Add(1)
	return ackToken{a: a, seq: seq}
}

// marker registers an acknowledgement with no batch of its own: it is
// called once every batch registered before it is delivered.
func (a *acker) marker(fn connector.AckFunc) {
	t := a.add(fn, 0, 0)
	t.done(nil)
}

func (a *acker) done(seq uint64, err error) {
	a.mu.Lock()
	i := int(seq - a.base)
	if seq < a.base || i >= len(a.pending) || a.pending[i].done {
		a.mu.Unlock()
		return // already settled (the run ended)
	}
	a.pending[i].done, a.pending[i].err = true, err
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *acker) loop() {
	defer close(a.stopped)
	var ready []ackEntry
	for {
		_, open := <-a.wake
		a.mu.Lock()
		n := 0
		for n < len(a.pending) && a.pending[n].done {
			n++
		}
		ready = append(ready[:0], a.pending[:n]...)
		a.pending = a.pending[n:]
		a.base += uint64(n)
		closed := a.closed && len(a.pending) == 0
		a.mu.Unlock()
		for i := range ready {
			e := &ready[i]
			a.outstanding.Add(-1)
			if e.err != nil && a.failed == nil {
				a.failed = e.err
			} else if a.failed != nil && e.err == nil {
				e.err = fmt.Errorf("%w: an earlier batch was not: %w", connector.ErrNotDelivered, a.failed)
			}
			if e.err == nil {
				if e.recs > 0 {
					a.acked.Add(e.recs)
					a.watermark.Store(e.last)
				}
			} else {
				a.nacked.Add(e.recs)
			}
			if e.fn != nil {
				a.call(e.fn, e.err)
			}
		}
		clear(ready)
		if closed || !open {
			return
		}
	}
}

func (a *acker) call(fn connector.AckFunc, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if aerr := fn(ctx, err); aerr != nil {
		a.ackErrors.Add(1)
		a.log.Warn("acknowledgement failed; the input may deliver these records again", "err", aerr)
	}
}

// close settles every batch still pending with cause (not delivered),
// calls their acknowledgements in order and returns when all were called.
func (a *acker) close(cause error) {
	if cause == nil {
		cause = errors.New("the run ended before it was written")
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.stopped
		return
	}
	a.closed = true
	for i := range a.pending {
		if !a.pending[i].done {
			a.pending[i].done = true
			a.pending[i].err = fmt.Errorf("%w: %w", connector.ErrNotDelivered, cause)
		}
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	<-a.stopped
}
