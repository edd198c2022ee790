package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine/internal/codec"
)

// Output grouping (connector.Batcher). A BatchWriter that declares a
// BatchPolicy gets its records in groups collected across the pipeline's
// batches: the records are copied into the group's arena (the batches are
// recycled once written), the input batches' acknowledgements wait in the
// group, and the group is written, with the output's retries and
// on_error, when it is full, when its linger expires (a timer), or when
// the output is flushed (end of input, drain). Outputs without a policy do
// not come here: connSink writes each batch as it comes.

// outGroup is a connSink's group of records waiting to be written.
type outGroup struct {
	s   *connSink
	pol connector.BatchPolicy

	mu    sync.Mutex
	rs    *runState // of the last write: a linger write reports to it
	c     *counters
	arena []byte   // the records' bytes, one after the other
	store []Record // the records; Data is re-pointed into arena when written
	recs  []*Record
	bytes int64
	toks  []ackToken // acknowledgements settled when the group is written
	timer *time.Timer
	gen   uint64 // which group the timer was armed for
	done  bool   // flushed for the last time: the timer writes nothing
}

func newOutGroup(s *connSink, pol connector.BatchPolicy) *outGroup {
	return &outGroup{s: s, pol: pol}
}

// add takes b's records into the group, writing the group whenever it is
// full; with no linger, what is left is written before add returns.
func (g *outGroup) add(rs *runState, c *counters, b *batch) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rs, g.c = rs, c
	c.in.Add(int64(len(b.recs)))
	plan := g.s.outPlan
	for _, r := range b.recs {
		if plan.Validate && !b.json && !codec.ValidJSON(r.Data) {
			cause := fmt.Errorf("%w: not one JSON value (output codec is ndjson)", ErrInvalidRecord)
			if err := onError(plan.OnError, rs, c, "output", r, cause, &StageError{Stage: "output", Op: "write", Record: r.Number(), Err: cause}); err != nil {
				return err
			}
			continue
		}
		if isTextCodec(plan.Codec) { // csv, logfmt: each record one line (connio.go)
			e, err := g.s.encodeOrFail(rs, c, r)
			if e == nil {
				if err != nil {
					return err
				}
				continue
			}
			r = e
		}
		size := int64(len(r.Data)) + 1
		if len(g.store) > 0 && !g.fits(size) {
			if err := g.writeLocked(); err != nil {
				return err
			}
		}
		if len(g.store) == 0 && g.pol.Linger > 0 {
			g.arm()
		}
		g.arena = append(g.arena, r.Data...)
		g.store = append(g.store, *r) // Data still names the batch's bytes: re-pointed at write
		g.bytes += size
	}
	switch {
	case !b.ack.tracked():
	case b.last:
		// What a failing stage produced before its failing record: it is
		// written, but its input batch is not delivered.
		b.ack.done(errPartial)
	case len(g.store) == 0:
		b.ack.done(nil) // nothing of it waits (dropped, dead-lettered, written)
	default:
		g.toks = append(g.toks, b.ack)
	}
	b.ack = ackToken{}
	if len(g.store) > 0 && (g.pol.Linger <= 0 || g.full()) {
		return g.writeLocked()
	}
	return nil
}

// fits reports whether a record of size bytes fits the group.
func (g *outGroup) fits(size int64) bool {
	if g.pol.MaxRecords > 0 && len(g.store)+1 > g.pol.MaxRecords {
		return false
	}
	return g.pol.MaxBytes <= 0 || g.bytes+size <= g.pol.MaxBytes
}

// full reports whether no further record can join the group.
func (g *outGroup) full() bool {
	return (g.pol.MaxRecords > 0 && len(g.store) >= g.pol.MaxRecords) || (g.pol.MaxBytes > 0 && g.bytes >= g.pol.MaxBytes)
}

// arm starts the linger of a new group.
func (g *outGroup) arm() {
	gen := g.gen
	if g.timer != nil {
		g.timer.Stop()
	}
	g.timer = time.AfterFunc(g.pol.Linger, func() { g.expire(gen) })
}

// expire writes the group gen when its linger ran out; a write error ends
// the run as a write error of the output writer would.
func (g *outGroup) expire(gen uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done || gen != g.gen || len(g.store) == 0 || g.rs == nil {
		return // written meanwhile, or the output is closed
	}
	if g.rs.ctx.Err() != nil {
		return // the run aborted: nothing is written any more
	}
	if err := g.writeLocked(); err != nil {
		g.rs.abort(err)
	}
}

// flush writes what the group holds; after it the timer writes nothing.
// It is the sink's flush: at the end of input and when the run drains.
func (g *outGroup) flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = true
	if g.timer != nil {
		g.timer.Stop()
	}
	if len(g.store) == 0 || g.rs == nil {
		return nil
	}
	if g.rs.ctx.Err() != nil {
		g.reset() // aborted: not delivered (the acker says so at its close)
		return nil
	}
	return g.writeLocked()
}

// writeLocked writes the group (g.mu held) and starts a new one.
func (g *outGroup) writeLocked() error {
	g.gen++
	if g.timer != nil {
		g.timer.Stop()
	}
	g.recs = g.recs[:0]
	pos := 0
	for i := range g.store {
		r := &g.store[i]
		n := len(r.Data)
		r.Data = g.arena[pos : pos+n : pos+n]
		pos += n
		g.recs = append(g.recs, r)
	}
	settled, err := g.s.writeRecs(g.rs, g.c, g.recs)
	switch {
	case err != nil:
		for _, t := range g.toks {
			t.done(err)
		}
	case settled:
		for _, t := range g.toks {
			t.done(nil)
		}
	} // else the run aborted while writing: not delivered (the acker says so)
	g.reset()
	return err
}

// reset empties the group, keeping its memory.
func (g *outGroup) reset() {
	clear(g.recs)
	clear(g.store) // drop the records' Meta maps
	clear(g.toks)
	g.arena, g.store, g.recs, g.toks, g.bytes = g.arena[:0], g.store[:0], g.recs[:0], g.toks[:0], 0
	if cap(g.arena) > 64<<20 {
		g.arena = nil // do not keep a huge one after a burst
	}
}

// writeRecs writes recs with the output's retries, then applies its
// on_error to a write that failed for good. settled reports that the
// records were delivered: written, or dropped or dead-lettered by
// on_error. An error means the run must stop (the records are not
// delivered); settled false with no error means the run aborted while
// writing (not delivered either: the acker says so at its close).
func (s *connSink) writeRecs(rs *runState, c *counters, recs []*Record) (settled bool, err error) {
	if len(recs) == 0 {
		return true, nil
	}
	err = s.r.retry(rs.ctx, s.pol, "write", func(ctx context.Context) error { return s.out.WriteBatch(ctx, recs) })
	if err == nil {
		c.passed.Add(int64(len(recs)))
		c.out.Add(int64(len(recs)))
		return true, nil
	}
	if rs.ctx.Err() != nil {
		return false, nil // the run aborted: the records are not acknowledged
	}
	var stopped *retryStopped
	if errors.As(err, &stopped) {
		return false, &StageError{Stage: "output", Op: "write", Record: firstNum(recs), Err: err}
	}
	switch s.policy {
	case OnErrorDrop:
		s.r.p.opts.log.Error("output gave up on a batch; dropped", "records", len(recs), "err", err)
		c.dropped.Add(int64(len(recs)))
	case OnErrorDeadLetter:
		for _, r := range recs {
			if derr := rs.dl.write("output", r, err); derr != nil {
				return false, derr
			}
			c.dead.Add(1)
		}
	default:
		return false, &StageError{Stage: "output", Op: "write", Record: firstNum(recs), Err: err}
	}
	return true, nil
}
