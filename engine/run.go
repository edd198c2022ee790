package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/stdio"
)

func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

// run is one run of a pipeline. It owns what a run changes (counters, the
// versions a live run went through, readiness, input progress, the input's
// current settings), so that the Pipeline it runs stays a built value that
// can run again; the Pipeline keeps its last run for Stats, Ready and
// Progress.
type run struct {
	p             *Pipeline
	in, out       *counters
	ready         atomic.Bool
	over          atomic.Bool  // the run has ended: its counts are final
	outputWritten atomic.Int64 // bytes handed to the output writer
	// input is the input's settings: the plan's, replaced by a reload.
	input atomic.Pointer[InputPlan]

	// The connectors and delivery: set while the run starts.
	inputConn, outputConn atomic.Pointer[connRef]
	progress              connector.Progresser // nil: size unknown
	acks                  atomic.Pointer[acker]
	sink                  atomic.Pointer[sinkRef]
	retries               atomic.Int64
	outputFailing         atomic.Bool
	connStats             connStats
	stopCtx               context.Context // the caller's: done when the run is asked to stop
	deadLetter            atomic.Pointer[deadLetter]
	failedEarly           atomic.Bool // the run failed (the output aborts if no record was read)

	mu       sync.Mutex
	versions []*runVersion // in the order they became active: the last is current

	// The writers of the named outputs (outputs:), one per output for the
	// whole run, whatever the versions (route_run.go).
	named   map[string]*namedWriter
	namedWG sync.WaitGroup
}

// runVersion is one pipeline whose stages ran in a run, with their counters.
type runVersion struct {
	p      *Pipeline
	stats  []*counters    // one per stage
	routes *routeCounters // branches and named outputs; nil for a flat pipeline
}

func (r *run) addVersion(p *Pipeline) *runVersion {
	v := &runVersion{p: p, stats: make([]*counters, len(p.stages)), routes: newRouteCounters(p)}
	for i := range v.stats {
		v.stats[i] = &counters{}
	}
	r.mu.Lock()
	if n := len(r.versions); n > 0 {
		v.routes.carry(r.versions[n-1].routes)
	}
	r.versions = append(r.versions, v)
	r.mu.Unlock()
	return v
}

// release closes the pipeline of a version that a reload brought in (the
// run owns it, see Reload) once its stages are done, and keeps only what
// Stats reads of it (each stage's plan and events), so that the stages'
// runtimes, compiled code and scripts are freed.
func (r *run) release(v *runVersion) {
	r.mu.Lock()
	p := v.p
	if p == r.p || p.released {
		r.mu.Unlock()
		return
	}
	stub := &Pipeline{opts: p.opts, released: true}
	stub.plan.Outputs = p.plan.Outputs // the rows of the named outputs (routeStats)
	for _, s := range p.stages {
		stub.stages = append(stub.stages, &stageExec{plan: s.plan, events: s.events, level: s.level})
	}
	v.p = stub
	r.mu.Unlock()
	if err := p.Close(); err != nil {
		p.opts.log.Error("closing a replaced pipeline version", "err", err)
	}
}

// begin loads p if needed and starts a run (one at a time); end ends it.
func (p *Pipeline) begin(ctx context.Context) (r *run, end func(), err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return nil, nil, errors.New("engine: pipeline is already running")
	}
	if err := p.loadLocked(ctx); err != nil {
		return nil, nil, err
	}
	p.running = true
	r = &run{p: p, in: &counters{}, out: &counters{}}
	in := p.plan.Input
	r.input.Store(&in)
	r.addVersion(p)
	p.last.Store(r)
	return r, func() {
		r.over.Store(true) // its counts are final: see accountNotProcessed
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}, nil
}

// Run runs the pipeline with its configured input and output: type stdin
// reads stdin, type stdout writes stdout, type file opens the spec's files.
// It is RunLive without reloads.
//
// Cancelling ctx stops reading input; the records already read are still
// processed, stages are flushed and the output is written before Run returns
// ctx's error. Run returns a *StageError when a stage fails under on_error:
// fail, a *ConfigError when an input or output cannot be opened.
func (p *Pipeline) Run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	return p.RunLive(ctx, stdin, stdout, nil)
}

// RunReader runs the pipeline over r and w with the configured codecs,
// whatever the configured input and output types.
func (p *Pipeline) RunReader(ctx context.Context, r io.Reader, w io.Writer) error {
	run, end, err := p.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	src, closeIn, err := run.connectInput(ctx, stdio.NewInput(r))
	if err != nil {
		return err
	}
	snk, closeOut, err := run.connectOutput(ctx, stdio.NewOutput(w))
	if err != nil {
		closeIn()
		return err
	}
	return run.executeIO(ctx, src, snk, closeIn, closeOut, nil)
}

// Source yields input records for Stream; it returns io.EOF at the end.
type Source func(ctx context.Context) (*Record, error)

// Sink receives output records from Stream, in order. An error stops the run.
type Sink func(*Record) error

// Stream runs the pipeline from src to sink without codecs: records go in
// and come out as they are. Records without a number are numbered in order.
func (p *Pipeline) Stream(ctx context.Context, src Source, sink Sink) error {
	r, end, err := p.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return r.execute(ctx, &funcSource{next: src}, &funcSink{fn: sink}, nil)
}

// Process runs the pipeline over recs and returns the output records.
func (p *Pipeline) Process(ctx context.Context, recs ...*Record) ([]*Record, error) {
	i := 0
	var out []*Record
	err := p.Stream(ctx, func(context.Context) (*Record, error) {
		if i == len(recs) {
			return nil, io.EOF
		}
		i++
		return recs[i-1], nil
	}, func(r *Record) error {
		c := r.Clone()
		out = append(out, c)
		return nil
	})
	return out, err
}

// openDeadLetter opens the plan's dead-letter file, if any.
func (p *Pipeline) openDeadLetter() (*deadLetter, error) {
	path := p.plan.DeadLetter
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		var src Config
		if p.spec.DeadLetter != nil {
			src = p.spec.DeadLetter.src
		}
		return nil, errAtField(src, p.spec.File, "path", "cannot open dead-letter file: %v", err)
	}
	return &deadLetter{f: f, path: path}, nil
}

// openInstances makes and opens one instance per worker of every stage.
// What it made is returned also on error, for closeInstances.
func (p *Pipeline) openInstances(ctx context.Context) ([][]Transformer, error) {
	insts := make([][]Transformer, len(p.stages))
	for i, s := range p.stages {
		for range s.plan.Workers {
			t, err := s.stage.New(ctx)
			if err == nil && t == nil {
				err = fmt.Errorf("stage built a nil transformer")
			}
			if err == nil {
				insts[i] = append(insts[i], t)
				if o, ok := t.(Opener); ok {
					err = o.Open(ctx)
				}
				if err == nil {
					err = p.checkTickers(i, t)
				}
			}
			if err != nil {
				var ce *ConfigError
				if errors.As(err, &ce) {
					return insts, err
				}
				return insts, &StageError{Stage: s.plan.Name, Kind: s.plan.Kind, Op: "open", Err: err}
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
					errs = append(errs, &StageError{Stage: p.stages[i].plan.Name, Kind: p.stages[i].plan.Kind, Op: "close", Err: err})
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

// chain is the running stages of one version: batches enter at first and
// leave at last.
type chain struct {
	v     *runVersion
	insts [][]Transformer
	rs    *runState
	first chan *batch
	last  <-chan *batch
	wg    sync.WaitGroup
}

// startChain starts the stages of v with their instances.
func (r *run) startChain(root *runState, v *runVersion, insts [][]Transformer) *chain {
	if v.p.graph != nil {
		return r.startGraph(root, v, insts) // switch and fanout steps: route_run.go
	}
	c := &chain{v: v, insts: insts, rs: root.chain(len(v.p.stages)), first: make(chan *batch, queueDepth)}
	var in <-chan *batch = c.first
	for i, s := range v.p.stages {
		out := make(chan *batch, queueDepth)
		s.run(c.rs, i+1, v.stats[i], insts[i], in, out, &c.wg)
		in = out
	}
	c.last = in
	return c
}

// execute is the one run lifecycle behind Run, RunReader, Stream and
// RunLive: open the dead-letter file and every stage instance, start the
// input and the stages, write the output in order and close what was
// opened. With reloads, a router between the input and the stages switches
// to each new version (see RunLive); without, the input feeds the stages
// directly.
func (r *run) execute(ctx context.Context, src source, snk sink, reloads <-chan Reload) (err error) {
	p := r.p
	// Stages run on a context that the caller's cancellation does not reach:
	// cancelling ctx stops the input, and what was read is still processed.
	stageCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	root := newRunState(stageCtx, cancel, 0)
	if root.dl, err = p.openDeadLetter(); err != nil {
		return err
	}
	r.deadLetter.Store(root.dl)
	defer root.dl.close()

	// One instance per worker, opened before any record moves.
	insts, err := p.openInstances(stageCtx)
	if err != nil {
		p.closeInstances(insts)
		return err
	}
	r.ready.Store(true)
	defer r.ready.Store(false)

	first := r.startChain(root, r.versions[0], insts)
	chains := make(chan *chain, 64)
	var srcWG sync.WaitGroup
	direct := reloads == nil && writeDirect(src, snk, first, r.out) // io.go
	if reloads == nil {
		startSource(ctx, r, root, src, first.first, first.rs.stop(1), &srcWG)
		chains <- first
		close(chains)
	} else {
		input := make(chan *batch, queueDepth)
		routed := make(chan struct{}) // closed when the router stops taking input
		startSource(ctx, r, root, src, input, routed, &srcWG)
		chains <- first
		go func() {
			defer close(routed)
			r.route(root, input, first, chains, reloads)
		}()
	}

	// The output drains the chains in the order they were started; each
	// chain's instances are closed once its stages are done.
	var closers sync.WaitGroup
	var closeMu sync.Mutex
	var closeErrs []error
	for c := range chains {
		if direct {
			for range c.last { // the input writes the output itself
			}
		} else {
			drain(c.rs, snk, r.out, c.v.p.plan.Output, c.last)
		}
		closers.Add(1)
		go func() {
			defer closers.Done()
			c.wg.Wait()
			if err := c.v.p.closeInstances(c.insts); err != nil {
				closeMu.Lock()
				closeErrs = append(closeErrs, err)
				closeMu.Unlock()
			}
			r.release(c.v)
		}()
	}
	r.closeNamed()
	srcWG.Wait()
	closers.Wait()
	if ferr := snk.flush(); ferr != nil {
		root.abort(ferr)
	}
	if err := root.firstErr(); err != nil {
		return err
	}
	if err := errors.Join(closeErrs...); err != nil {
		return err
	}
	return ctx.Err()
}

// startSource reads the input into batches on out, which it closes at the
// end of input, when ctx is done or when the run fails. stopped closes when
// the receiver of out stops taking batches.
func startSource(ctx context.Context, r *run, rs *runState, src source, out chan<- *batch, stopped <-chan struct{}, wg *sync.WaitGroup) {
	if src.interruptible() {
		// Files: the reader checks ctx between reads, so it feeds the
		// first stage itself (one goroutine hand-off less per batch).
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(out)
			if err := src.run(ctx, r, rs, out); err != nil {
				rs.failAt(0, err)
			}
		}()
		return
	}
	// The reader may block in a read that cannot be interrupted (stdin):
	// it is not waited for. The gate forwards its batches until the input
	// ends, ctx is done or the run fails.
	raw := make(chan *batch, queueDepth)
	gate := gateOf(src)
	go func() {
		defer close(raw)
		if h := testHookSourceDone; h != nil {
			defer h()
		}
		if err := src.run(ctx, r, rs, raw); err != nil && !errors.Is(err, errReadAbandoned) {
			rs.failAt(0, err)
		}
	}()
	// What the reader handed over before it failed still goes on.
	send := func(b *batch) bool {
		select {
		case out <- b:
			return true
		case <-stopped:
		case <-rs.ctx.Done():
		}
		putBatch(b)
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		for {
			select {
			case b, ok := <-raw:
				if !ok || !send(b) {
					return
				}
			case <-ctx.Done():
				if gate != nil { // until the reader has handed on all it read
					drainGated(gate, raw, send, stopped, rs.ctx.Done())
					return
				}
				forwardQueued(raw, send) // what the reader already handed over
				return
			case <-stopped:
				return
			case <-rs.ctx.Done():
				return
			}
		}
	}()
}

// drain writes every batch of in to the sink, with the output settings of
// the version whose stages made them.
func drain(rs *runState, snk sink, outStats *counters, settings OutputPlan, in <-chan *batch) {
	snk.use(settings)
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
