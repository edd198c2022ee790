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

// run is the one implementation behind Run, RunReader and Stream.
func (p *Pipeline) run(ctx context.Context, src source, snk sink) (err error) {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("engine: pipeline is already running")
	}
	if err := p.loadLocked(ctx); err != nil {
		p.mu.Unlock()
		return err
	}
	p.running = true
	p.inStats = &counters{}
	p.stats = make([]*counters, len(p.stages)+1)
	for i := range p.stats {
		p.stats[i] = &counters{}
	}
	stats, inStats := p.stats, p.inStats
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()

	// Stages run on a context that the caller's cancellation does not reach:
	// cancelling ctx stops the input, and what was read is still processed.
	stageCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	rs := newRunState(stageCtx, cancel, len(p.stages))

	if dl := p.spec.DeadLetter; dl != nil {
		path := resolvePath(p.spec.File, dl.Path)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return errAtField(dl.src, p.spec.File, "path", "cannot open dead-letter file: %v", err)
		}
		rs.dl = &deadLetter{f: f, path: path}
		defer rs.dl.close()
	}

	// One instance per worker, opened before any record moves.
	insts := make([][]Transformer, len(p.stages))
	defer func() {
		var errs []error
		for i, ts := range insts {
			for _, t := range ts {
				if c, ok := t.(Closer); ok {
					if cerr := c.Close(); cerr != nil {
						errs = append(errs, &StageError{Stage: p.stages[i].name, Kind: p.stages[i].kind, Op: "close", Err: cerr})
					}
				}
			}
		}
		if cerr := errors.Join(errs...); cerr != nil {
			p.opts.log.Error("closing stages", "err", cerr)
			if err == nil {
				err = cerr
			}
		}
	}()
	for i, s := range p.stages {
		for range s.workers {
			t, oerr := s.stage.New(stageCtx)
			if oerr == nil && t == nil {
				oerr = fmt.Errorf("stage built a nil transformer")
			}
			if oerr == nil {
				insts[i] = append(insts[i], t)
				if o, ok := t.(Opener); ok {
					oerr = o.Open(stageCtx)
				}
			}
			if oerr != nil {
				var ce *ConfigError
				if errors.As(oerr, &ce) {
					return oerr
				}
				return &StageError{Stage: s.name, Kind: s.kind, Op: "open", Err: oerr}
			}
		}
	}

	p.ready.Store(true)
	defer p.ready.Store(false)
	var wg sync.WaitGroup
	first := make(chan *batch, queueDepth)
	if src.interruptible() {
		// Files: the reader checks ctx between reads, so it feeds the
		// first stage itself (one goroutine hand-off less per batch).
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(first)
			if rerr := src.run(ctx, p, rs, inStats, first); rerr != nil {
				rs.failAt(0, rerr)
			}
		}()
	} else {
		// The reader may block in a read that cannot be interrupted
		// (stdin): it is not waited for. The gate forwards its batches
		// until the input ends, ctx is done or the run fails.
		raw := make(chan *batch, queueDepth)
		go func() {
			defer close(raw)
			if rerr := src.run(ctx, p, rs, inStats, raw); rerr != nil {
				rs.failAt(0, rerr)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(first)
			for {
				select {
				case b, ok := <-raw:
					if !ok || !rs.send(first, b, 1) {
						return
					}
				case <-ctx.Done():
					for { // forward what the reader already handed over
						select {
						case b, ok := <-raw:
							if !ok || !rs.send(first, b, 1) {
								return
							}
						default:
							return
						}
					}
				case <-rs.stop(1):
					return
				case <-stageCtx.Done():
					return
				}
			}
		}()
	}
	in := (<-chan *batch)(first)
	for i, s := range p.stages {
		out := make(chan *batch, queueDepth)
		s.level = i + 1
		s.run(rs, i+1, stats[i], insts[i], in, out, &wg)
		in = out
	}
	outStats := stats[len(p.stages)]
	for b := range in {
		if rs.ctx.Err() != nil {
			putBatch(b)
			continue
		}
		if werr := snk.write(rs, outStats, b, len(in) > 0); werr != nil {
			rs.abort(werr)
		}
		putBatch(b)
	}
	wg.Wait()
	if ferr := snk.flush(); ferr != nil {
		rs.abort(ferr)
	}
	if err := rs.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}
