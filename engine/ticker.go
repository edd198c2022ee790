package engine

import (
	"errors"
	"time"

	"github.com/pipe-dev/pipe/stage"
)

// Ticker is an alias of stage.Ticker.
type Ticker = stage.Ticker

// ticking is a worker's clock when its instance is a Ticker with a positive
// interval and the stage runs one worker (see stage.Ticker).
type ticking struct {
	tk Ticker
	t  *time.Ticker
}

// startTicking arms w's clock when its instance ticks. Only the single
// worker of a stage ticks: a stage of several Ticker instances is refused
// when it opens (checkTickers).
func (w *worker) startTicking() {
	tk, ok := w.t.(Ticker)
	if !ok {
		return
	}
	if every := tk.TickInterval(); every > 0 {
		w.tick = &ticking{tk: tk, t: time.NewTicker(every)}
	}
}

// receive returns the next batch of in, calling the instance's Tick (and
// sending what it emits) each time the clock fires meanwhile. It reports
// false at the end of in, and also when a tick failed or its batch could
// not be sent: the run has then failed, and loop does not flush.
func (w *worker) receive(in <-chan *batch, send func(*batch) bool) (*batch, bool) {
	if w.tick == nil {
		b, ok := <-in
		return b, ok
	}
	for {
		select {
		case b, ok := <-in:
			if !ok {
				w.tick.t.Stop()
			}
			return b, ok
		case now := <-w.tick.t.C:
			tb, err := w.runTick(now)
			if err != nil {
				putBatch(tb)
				w.tick.t.Stop()
				w.rs.failAt(w.level, err)
				return nil, false
			}
			if w.ret != nil {
				w.ret.ticked(tb)
			}
			if len(tb.recs) == 0 && !tb.ack.tracked() {
				putBatch(tb)
				continue
			}
			if !send(tb) {
				w.tick.t.Stop()
				return nil, false
			}
		}
	}
}

// runTick calls Tick; its records go into a batch of their own. An error
// is returned only when the pipeline must stop.
func (w *worker) runTick(now time.Time) (*batch, error) {
	b := getBatch()
	b.json = outputJSON(w.json, w.allJSON)
	w.curIn = &Record{}
	w.pending = w.pending[:0]
	ctx := w.begin()
	err := w.tick.tk.Tick(ctx, now, w.emitFn)
	err = w.end(err)
	w.curIn = nil
	if err != nil {
		clear(w.pending)
		if errors.Is(err, ErrFatal) {
			return b, w.stageErr(0, "tick", err)
		}
		if w.st.plan.OnError != OnErrorFail {
			w.st.log.Error("tick failed", "err", err)
		}
		return b, onError(w.st.plan.OnError, w.rs, w.c, w.st.plan.Name, nil, err, w.stageErr(0, "tick", err))
	}
	w.c.out.Add(int64(len(w.pending)))
	b.recs = append(b.recs, w.pending...)
	clear(w.pending)
	return b, nil
}

// checkTickers refuses a stage of several instances that tick.
func (p *Pipeline) checkTickers(i int, t Transformer) error {
	s := p.stages[i]
	tk, ok := t.(Ticker)
	if !ok || s.plan.Workers <= 1 || tk.TickInterval() <= 0 {
		return nil
	}
	return s.spec.Errorf("workers", "stage %s emits on a clock (windows that close on time) and must run with workers: 1, got %d", quote(s.plan.Name), s.plan.Workers)
}
