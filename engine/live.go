package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Reload asks a live run (RunLive) to switch to Next, a built pipeline.
type Reload struct {
	Next *Pipeline
	// Done, if not nil, is told nil once Next has taken over, or why it
	// was refused (the current pipeline keeps running then). It should be
	// buffered.
	Done chan<- error
}

// ErrReloadRefused wraps the reasons a Reload is refused.
var ErrReloadRefused = errors.New("reload refused")

// RunLive runs p like Run, and switches to each pipeline sent on reloads
// between batches: the records already in the current stages finish there,
// those stages flush (their state does not carry over), and every later
// record goes through the new stages; the output keeps the input's order,
// and no record is lost or duplicated. The input, output and dead_letter
// stay those of p: a replacement that changes them is refused, like one
// whose stages fail to load or open; the current pipeline keeps running.
//
// Stats of p report the input and output over the whole run, and the
// stages of the pipeline active last, each with the counts of the
// same-named stages of earlier versions added (see Stats).
func (p *Pipeline) RunLive(ctx context.Context, stdin io.Reader, stdout io.Writer, reloads <-chan Reload) (err error) {
	src, err := p.openInput(stdin)
	if err != nil {
		return err
	}
	out, closeOut, err := p.openOutput(stdout)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeOut(); cerr != nil && err == nil {
			err = &StageError{Stage: "output", Op: "write", Err: cerr}
		}
	}()
	snk := p.newWriterSink(out)

	end, err := p.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	stageCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	root := newRunState(stageCtx, cancel, 0)
	if root.dl, err = p.openDeadLetter(); err != nil {
		return err
	}
	defer root.dl.close()

	insts, err := p.openInstances(stageCtx)
	if err != nil {
		p.closeInstances(insts)
		return err
	}
	p.setCurrent(p) // stays the last active version after the run, for Stats
	p.ready.Store(true)
	defer p.ready.Store(false)

	var srcWG sync.WaitGroup
	input := startSource(ctx, p, root, src, p.inStats, 0, &srcWG)

	// Each version's stages form a chain; the output drains the chains in
	// the order they were started.
	type chain struct {
		p     *Pipeline
		insts [][]Transformer
		rs    *runState
		first chan *batch
		last  <-chan *batch
		wg    sync.WaitGroup
	}
	chains := make(chan *chain, 64)
	start := func(q *Pipeline, insts [][]Transformer, stats []*counters) *chain {
		c := &chain{p: q, insts: insts, rs: root.chain(len(q.stages)), first: make(chan *batch, queueDepth)}
		c.last = q.startChain(c.rs, stats, insts, c.first, &c.wg)
		return c
	}
	cur := start(p, insts, p.stats[:len(p.stages)])
	chains <- cur
	var closers sync.WaitGroup
	retire := func(c *chain) { // after its last batch: close its instances
		closers.Add(1)
		go func() {
			defer closers.Done()
			c.wg.Wait()
			c.p.closeInstances(c.insts)
		}()
	}

	go func() { // the router: input batches to the current chain
		defer close(chains)
		defer func() {
			close(cur.first)
			retire(cur)
		}()
		for {
			select {
			case b, ok := <-input:
				if !ok {
					return
				}
				if !cur.rs.send(cur.first, b, 1) {
					return
				}
			case r := <-reloads:
				next, err := p.prepareReload(stageCtx, r.Next)
				if err != nil {
					reply(r, fmt.Errorf("%w: %w", ErrReloadRefused, err))
					continue
				}
				close(cur.first) // the old stages drain and flush
				retire(cur)
				cur = start(r.Next, next, r.Next.stats[:len(r.Next.stages)])
				chains <- cur
				p.setCurrent(r.Next)
				p.opts.log.Debug("pipeline version switched", "stages", len(r.Next.stages))
				reply(r, nil)
			case <-root.ctx.Done():
				return
			}
		}
	}()

	outStats := p.stats[len(p.stages)]
	for c := range chains {
		drain(c.rs, snk, outStats, c.last)
	}
	srcWG.Wait()
	closers.Wait()
	if ferr := snk.flush(); ferr != nil {
		root.abort(ferr)
	}
	if err := root.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}

func reply(r Reload, err error) {
	if r.Done != nil {
		select {
		case r.Done <- err:
		default:
		}
	}
}

// prepareReload checks that next can replace p in a live run, and loads
// and opens its stages.
func (p *Pipeline) prepareReload(ctx context.Context, next *Pipeline) ([][]Transformer, error) {
	if next == nil || next == p {
		return nil, errors.New("no new pipeline")
	}
	a, b := p.spec, next.spec
	switch {
	case a.Input.Type != b.Input.Type || a.Input.Path != b.Input.Path || a.Input.Codec != b.Input.Codec ||
		a.Input.MaxRecordBytes != b.Input.MaxRecordBytes || a.Input.OnError != b.Input.OnError ||
		a.Input.ValidateUTF8 != b.Input.ValidateUTF8 || a.Input.RejectNUL != b.Input.RejectNUL:
		return nil, errors.New("the input changed: that needs a restart")
	case a.Output.Type != b.Output.Type || a.Output.Path != b.Output.Path || a.Output.Codec != b.Output.Codec:
		return nil, errors.New("the output changed: that needs a restart")
	case (a.DeadLetter == nil) != (b.DeadLetter == nil) || (a.DeadLetter != nil && a.DeadLetter.Path != b.DeadLetter.Path):
		return nil, errors.New("dead_letter changed: that needs a restart")
	}
	if err := next.Load(ctx); err != nil {
		return nil, err
	}
	next.mu.Lock()
	next.stats = make([]*counters, len(next.stages)+1)
	for i := range next.stats {
		next.stats[i] = &counters{}
	}
	next.mu.Unlock()
	insts, err := next.openInstances(ctx)
	if err != nil {
		next.closeInstances(insts)
		return nil, err
	}
	return insts, nil
}

func (p *Pipeline) setCurrent(q *Pipeline) {
	p.mu.Lock()
	if q == p { // a new live run
		p.versions = nil
	}
	p.current = q
	p.versions = append(p.versions, q)
	p.mu.Unlock()
}
