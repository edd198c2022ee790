package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

// begin marks p running with fresh counters; end undoes it.
func (p *Pipeline) begin(ctx context.Context) (end func(), err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return nil, errors.New("engine: pipeline is already running")
	}
	if err := p.loadLocked(ctx); err != nil {
		return nil, err
	}
	p.running = true
	p.current, p.versions = nil, nil
	p.inStats = &counters{}
	p.stats = make([]*counters, len(p.stages)+1)
	for i := range p.stats {
		p.stats[i] = &counters{}
	}
	return func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}, nil
}

// openDeadLetter opens the spec's dead-letter file, if any.
func (p *Pipeline) openDeadLetter() (*deadLetter, error) {
	dl := p.spec.DeadLetter
	if dl == nil {
		return nil, nil
	}
	path := resolvePath(p.spec.File, dl.Path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, errAtField(dl.src, p.spec.File, "path", "cannot open dead-letter file: %v", err)
	}
	return &deadLetter{f: f, path: path}, nil
}

// openInstances makes and opens one instance per worker of every stage.
// What it made is returned also on error, for closeInstances.
func (p *Pipeline) openInstances(ctx context.Context) ([][]Transformer, error) {
	insts := make([][]Transformer, len(p.stages))
	for i, s := range p.stages {
		for range s.workers {
			t, err := s.stage.New(ctx)
			if err == nil && t == nil {
				err = fmt.Errorf("stage built a nil transformer")
			}
			if err == nil {
				insts[i] = append(insts[i], t)
				if o, ok := t.(Opener); ok {
					err = o.Open(ctx)
				}
			}
			if err != nil {
				var ce *ConfigError
				if errors.As(err, &ce) {
					return insts, err
				}
				return insts, &StageError{Stage: s.name, Kind: s.kind, Op: "open", Err: err}
			}
		}
	}
	return insts, nil
}

// closeInstances closes what openInstances made.
func (p *Pipeline) closeInstances(insts [][]Transformer) error {
	var errs []error
	for i, ts := range insts {
		for _, t := range ts {
			if c, ok := t.(Closer); ok {
				if err := c.Close(); err != nil {
					errs = append(errs, &StageError{Stage: p.stages[i].name, Kind: p.stages[i].kind, Op: "close", Err: err})
				}
			}
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		p.opts.log.Error("closing stages", "err", err)
	}
	return err
}

// startChain starts p's stages between first and the returned channel.
func (p *Pipeline) startChain(rs *runState, stats []*counters, insts [][]Transformer, first <-chan *batch, wg *sync.WaitGroup) <-chan *batch {
	in := first
	for i, s := range p.stages {
		out := make(chan *batch, queueDepth)
		s.level = i + 1
		s.run(rs, i+1, stats[i], insts[i], in, out, wg)
		in = out
	}
	return in
}

// startSource reads the input into batches on the returned channel, which
// closes at the end of input, when ctx is done or when the run fails.
// level is the stop level of the receiver of the batches.
func startSource(ctx context.Context, p *Pipeline, rs *runState, src source, inStats *counters, level int, wg *sync.WaitGroup) <-chan *batch {
	first := make(chan *batch, queueDepth)
	if src.interruptible() {
		// Files: the reader checks ctx between reads, so it feeds the
		// first stage itself (one goroutine hand-off less per batch).
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(first)
			if err := src.run(ctx, p, rs, inStats, first); err != nil {
				rs.failAt(0, err)
			}
		}()
		return first
	}
	// The reader may block in a read that cannot be interrupted (stdin):
	// it is not waited for. The gate forwards its batches until the input
	// ends, ctx is done or the run fails.
	raw := make(chan *batch, queueDepth)
	go func() {
		defer close(raw)
		if err := src.run(ctx, p, rs, inStats, raw); err != nil {
			rs.failAt(0, err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(first)
		for {
			select {
			case b, ok := <-raw:
				if !ok || !rs.send(first, b, level) {
					return
				}
			case <-ctx.Done():
				for { // forward what the reader already handed over
					select {
					case b, ok := <-raw:
						if !ok || !rs.send(first, b, level) {
							return
						}
					default:
						return
					}
				}
			case <-rs.stop(level):
				return
			case <-rs.ctx.Done():
				return
			}
		}
	}()
	return first
}

// drain writes every batch of in to the sink.
func drain(rs *runState, snk sink, outStats *counters, in <-chan *batch) {
	for b := range in {
		if rs.ctx.Err() != nil {
			putBatch(b)
			continue
		}
		if err := snk.write(rs, outStats, b, len(in) > 0); err != nil {
			rs.abort(err)
		}
		putBatch(b)
	}
}

// run is the one implementation behind Run, RunReader and Stream.
func (p *Pipeline) run(ctx context.Context, src source, snk sink) (err error) {
	end, err := p.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	stats, inStats := p.stats, p.inStats

	// Stages run on a context that the caller's cancellation does not reach:
	// cancelling ctx stops the input, and what was read is still processed.
	stageCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	rs := newRunState(stageCtx, cancel, len(p.stages))
	if rs.dl, err = p.openDeadLetter(); err != nil {
		return err
	}
	defer rs.dl.close()

	// One instance per worker, opened before any record moves.
	insts, err := p.openInstances(stageCtx)
	defer func() {
		if cerr := p.closeInstances(insts); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err != nil {
		return err
	}

	p.ready.Store(true)
	defer p.ready.Store(false)
	var wg sync.WaitGroup
	first := startSource(ctx, p, rs, src, inStats, 1, &wg)
	last := p.startChain(rs, stats, insts, first, &wg)
	drain(rs, snk, stats[len(p.stages)], last)
	wg.Wait()
	if ferr := snk.flush(); ferr != nil {
		rs.abort(ferr)
	}
	if err := rs.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}
