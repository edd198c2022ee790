package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Reload asks a live run (RunLive) to switch to Next, a built pipeline.
// The run owns Next from then on: it closes a Next it refuses at once, and
// one it switched to once that version's stages are done (replaced by a
// later version, or at the end of the run), keeping only its counters for
// Stats; so reloading many times holds no more than the versions still
// draining.
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
// between batches. The running plan and the new one are compared as values
// (Plan.Diff), and a reload applies every difference or none:
//
//   - stages (added, removed, reordered, any setting changed; also when
//     nothing in the plan changed, since a script or plugin may have): the
//     records already in the current stages finish there, those stages
//     flush (their state does not carry over), and every later record goes
//     through the new stages; the output keeps the input's order, and no
//     record is lost or duplicated;
//   - the input's limits and checks (max_record_bytes, on_error,
//     validate_utf8, reject_nul): for the records read from then on;
//   - the output's policy: for the records the new stages emit;
//   - switch and fanout steps (cases, branches, fanout targets and
//     policies): like stages, for the records read from then on; each
//     version runs its own branches, the main and the named outputs stay
//     open and take every record of an older version before any of a
//     newer one;
//   - what a run cannot change (the input's type, path or codec, the
//     output's type, path or codec, the named outputs of outputs:, the
//     dead_letter file) refuses the reload, naming each such setting, as
//     do new stages that fail to load or open. The current pipeline then
//     keeps running as it was.
//
// Stats of p report the input and output over the whole run, and the
// stages of the pipeline active last, each with the counts of the
// same-named stages of earlier versions added (see Stats).
func (p *Pipeline) RunLive(ctx context.Context, stdin io.Reader, stdout io.Writer, reloads <-chan Reload) (err error) {
	r, end, err := p.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := p.checkOverlap(stdin, stdout); err != nil {
		r.failedEarly.Store(true)
		return err
	}
	src, closeIn, err := r.openInput(ctx, stdin)
	if err != nil {
		return err
	}
	snk, closeOut, err := r.openOutput(ctx, stdout)
	if err != nil {
		closeIn()
		return err
	}
	return r.executeIO(ctx, src, snk, closeIn, closeOut, reloads)
}

// route hands input batches to the current chain and switches chains on
// reloads; each chain it starts goes to chains, in order.
func (r *run) route(root *runState, input <-chan *batch, cur *chain, chains chan<- *chain, reloads <-chan Reload) {
	defer close(chains)
	defer func() { close(cur.first) }() // the last chain drains and flushes
	for {
		select {
		case b, ok := <-input:
			if !ok || !cur.rs.send(cur.first, b, 1) {
				return
			}
		case rl := <-reloads:
			insts, err := r.prepare(root.ctx, cur.v.p, rl.Next)
			if err != nil {
				if rl.Next != nil && rl.Next != r.p && rl.Next != cur.v.p {
					rl.Next.Close()
				}
				reply(rl, fmt.Errorf("%w: %w", ErrReloadRefused, err))
				continue
			}
			close(cur.first) // the old stages drain and flush
			cur = r.startChain(root, r.addVersion(rl.Next), insts)
			chains <- cur
			in := rl.Next.plan.Input
			r.input.Store(&in)
			r.p.opts.log.Debug("pipeline version switched", "stages", len(rl.Next.stages))
			reply(rl, nil)
		case <-root.ctx.Done():
			return
		}
	}
}

func reply(r Reload, err error) {
	if r.Done != nil {
		select {
		case r.Done <- err:
		default:
		}
	}
}

// prepare checks that next can replace cur in the run (its plan differs
// from cur's only in what a run can apply), and loads and opens its stages.
func (r *run) prepare(ctx context.Context, cur, next *Pipeline) ([][]Transformer, error) {
	if next == nil || next == cur {
		return nil, errors.New("no new pipeline")
	}
	if err := refusals(cur.plan.Diff(next.plan)); err != nil {
		return nil, err
	}
	if err := next.Load(ctx); err != nil {
		return nil, err
	}
	insts, err := next.openInstances(ctx)
	if err != nil {
		next.closeInstances(insts)
		return nil, err
	}
	return insts, nil
}
