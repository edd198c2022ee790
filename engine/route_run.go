package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The branch runner. A pipeline with switch or fanout steps runs as a tree
// of segments: a segment is a straight chain of stages (run by the same
// stage decorator as a flat pipeline: workers, timeouts, on_error, order),
// ending at an output, at a merge back into its parent chain, at a switch
// or at a fanout.
//
//   - After a switch step's stage (whose routers mark each record with its
//     branch), the demux splits every batch into one sub-batch per branch,
//     in record order, and hands each to its branch's segment; the records
//     that go on (no case matched, default: continue) form one more lane.
//   - The merger takes, for every batch the demux split, one batch from
//     each lane that merges back (the continue lane and each branch without
//     to:), in the demux's order, and merges them by record number into one
//     batch for the chain after the switch: the input order is kept across
//     the branches that merge, not only within each.
//   - A fanout copies every batch to each of its outputs, with the output's
//     policy when its queue is full or its writes fail.
//   - An output is fed by every segment that ends at it; it is written by
//     one goroutine, in the order its batches arrive.
//
// Every queue between two goroutines holds at most queueDepth batches, so
// memory stays bounded by batch size × queues, as in a flat pipeline. A
// batch that the demux or a fanout splits is not recycled: its records are
// shared by the sub-batches, and the garbage collector frees it once they
// are written.
//
// Acknowledgements: an input batch is acknowledged once its last copy was
// written, dropped or dead-lettered: the demux and the fanout split its
// acknowledgement into shares, one per part, and the merger joins the
// shares of what it merges (route_ack.go).

// segment is one straight chain of the tree.
type segment struct {
	name   string // SWITCH.BRANCH; "" for the main chain
	to     string // the output it ends at; "" merges back into its parent
	stages []int  // indexes into Pipeline.stages, in order
	sw     *switchNode
	fan    []routeTarget
}

// switchNode is what follows a switch step: its branches and the chain
// after it.
type switchNode struct {
	branches []*segment
	next     *segment // the steps after the switch, ending where the switch's chain ends
}

// buildGraph makes the tree of a routed pipeline and sets each stage's
// level within its segment.
func (p *Pipeline) buildGraph() *segment {
	idx := map[*StageSpec]int{}
	for i, s := range p.stages {
		idx[s.spec] = i
	}
	var build func(stages []StageSpec, name, to string) *segment
	build = func(stages []StageSpec, name, to string) *segment {
		seg := &segment{name: name, to: to}
		for i := range stages {
			s := &stages[i]
			k := idx[s]
			seg.stages = append(seg.stages, k)
			p.stages[k].level = len(seg.stages)
			if s.isSwitch() {
				sw := &switchNode{}
				for j := range s.Branches {
					b := &s.Branches[j]
					sw.branches = append(sw.branches, build(b.Stages, s.Name+"."+b.Name, b.To))
				}
				sw.next = build(stages[i+1:], name, to)
				seg.sw = sw
				return seg
			}
			if s.isFanout() {
				seg.fan = parseRoute(routeJSON(s)).Fanout
				return seg
			}
		}
		return seg
	}
	return build(p.spec.Stages, "", MainOutput)
}

// routeCounters are a run's counts of branches and named outputs.
type routeCounters struct {
	branches map[string]*counters
	bnames   []string // in plan order
	outputs  map[string]*counters
}

func newRouteCounters(p *Pipeline) *routeCounters {
	if p.graph == nil {
		return nil
	}
	rc := &routeCounters{branches: map[string]*counters{}, outputs: map[string]*counters{}}
	var walk func(seg *segment)
	walk = func(seg *segment) {
		if seg.sw == nil {
			return
		}
		for _, b := range seg.sw.branches {
			if _, ok := rc.branches[b.name]; !ok {
				rc.branches[b.name] = &counters{}
				rc.bnames = append(rc.bnames, b.name)
			}
			walk(b)
		}
		walk(seg.sw.next)
	}
	walk(p.graph)
	for _, o := range p.plan.Outputs {
		rc.outputs[o.Name] = &counters{}
	}
	return rc
}

// carry makes rc count on with the counters of prev, a version it
// replaces in a live run: the branches of the same name and the named
// outputs (which a reload cannot change) are counted over the whole run.
func (rc *routeCounters) carry(prev *routeCounters) {
	if rc == nil || prev == nil {
		return
	}
	for name, c := range prev.branches {
		if _, ok := rc.branches[name]; ok {
			rc.branches[name] = c
		}
	}
	for name, c := range prev.outputs {
		if _, ok := rc.outputs[name]; ok {
			rc.outputs[name] = c
		}
	}
}

// routeStats returns the rows of branches and named outputs for Stats: a
// branch's In counts the records its switch sent it, Out those that
// reached its end (its output, the merge or its fanout), Dropped, Errors
// and DeadLettered add up its stages' counts. Without splitting stages,
// In = Out + Dropped + Errors for every branch.
func (v *runVersion) routeStats(stages []StageStats) []StageStats {
	rc := v.routes
	if rc == nil {
		return nil
	}
	var out []StageStats
	for _, name := range rc.bnames {
		c := rc.branches[name]
		st := StageStats{Name: name, Kind: "branch", In: c.in.Load(), Out: c.out.Load()}
		st.Passed = st.Out
		for i, s := range v.p.stages {
			if s.plan.Branch == name {
				st.Dropped += stages[i].Dropped
				st.Errors += stages[i].Errors
				st.DeadLettered += stages[i].DeadLettered
				st.Timeouts += stages[i].Timeouts
			}
		}
		out = append(out, st)
	}
	for _, o := range v.p.plan.Outputs {
		out = append(out, rc.outputs[o.Name].snapshot("output."+o.Name, "output"))
	}
	return out
}

// outNode is one output of a routed run: what feeds it and how it is written.
type outNode struct {
	name   string
	policy string
	ch     chan *batch
	feeds  sync.WaitGroup // one per segment or fanout feeding it; ch closes when all are done
	c      *counters
	failed atomic.Pointer[error] // a write failed (policies drop and dead_letter)
}

// graphRun is one routed version of a run.
type graphRun struct {
	r     *run
	v     *runVersion
	root  *runState
	insts [][]Transformer
	wg    *sync.WaitGroup
	outs  map[string]*outNode
}

// errOutputSlow is the cause recorded for copies a slow output refused.
var errOutputSlow = errors.New("output is slow: its queue is full")

// startGraph starts a routed version: the segments, the demuxes and
// mergers, the fanouts and the named outputs' writers. The main output's
// batches come out of the chain's last channel, as for a flat pipeline.
func (r *run) startGraph(root *runState, v *runVersion, insts [][]Transformer) *chain {
	p := v.p
	c := &chain{v: v, insts: insts, first: make(chan *batch, queueDepth)}
	g := &graphRun{r: r, v: v, root: root, insts: insts, wg: &c.wg, outs: map[string]*outNode{}}
	mainOut := &outNode{name: MainOutput, policy: PolicyBlock, ch: make(chan *batch, outputQueueDepth), c: r.out}
	g.outs[MainOutput] = mainOut
	c.last = mainOut.ch
	for _, o := range p.plan.Outputs {
		g.outs[o.Name] = &outNode{name: o.Name, policy: o.Policy, ch: make(chan *batch, outputQueueDepth), c: v.routes.outputs[o.Name]}
	}
	c.rs, _ = g.startSeg(p.graph, c.first)
	for _, o := range p.plan.Outputs {
		r.namedWriter(root, o).nodes <- g.outs[o.Name]
	}
	for _, n := range g.outs {
		go func() {
			n.feeds.Wait()
			close(n.ch)
		}()
	}
	return c
}

// startSeg starts a segment reading in. It returns the segment's run state
// (its stops) and, for a segment that merges back, its last channel.
func (g *graphRun) startSeg(seg *segment, in <-chan *batch) (*runState, <-chan *batch) {
	rs := g.root.chain(len(seg.stages))
	ch := in
	for i, k := range seg.stages {
		st := g.v.p.stages[k]
		out := make(chan *batch, queueDepth)
		st.run(rs, i+1, g.v.stats[k], g.insts[k], ch, out, g.wg)
		ch = out
	}
	bc := g.branchCounters(seg.name)
	switch {
	case seg.sw != nil:
		return rs, g.startSwitch(seg, rs, ch)
	case seg.fan != nil:
		g.startFanout(seg, rs, ch, bc)
		return rs, nil
	case seg.to != "":
		g.feed(rs, g.outs[seg.to], ch, bc)
		return rs, nil
	}
	return rs, ch
}

func (g *graphRun) branchCounters(name string) *counters {
	if name == "" {
		return nil
	}
	return g.v.routes.branches[name]
}

// feed forwards the batches of in to output n.
func (g *graphRun) feed(rs *runState, n *outNode, in <-chan *batch, bc *counters) {
	n.feeds.Add(1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer n.feeds.Done()
		for b := range in {
			if bc != nil {
				bc.out.Add(int64(len(b.recs)))
			}
			g.deliver(rs, n, b)
		}
	}()
}

// deliver hands b to output n under n's policy: block waits for room; drop
// and dead_letter refuse the batch when n's queue is full or n failed.
func (g *graphRun) deliver(rs *runState, n *outNode, b *batch) {
	if n.policy == PolicyBlock {
		select {
		case n.ch <- b:
		case <-rs.ctx.Done():
			putBatch(b)
		}
		return
	}
	if errp := n.failed.Load(); errp != nil {
		g.reject(n, b, *errp)
		return
	}
	select {
	case n.ch <- b:
	default:
		g.reject(n, b, errOutputSlow)
	}
}

// reject applies output n's policy (drop or dead_letter) to the records of
// b, which n did not write, and recycles b.
func (g *graphRun) reject(n *outNode, b *batch, cause error) {
	k := int64(len(b.recs))
	n.c.in.Add(k)
	if n.policy == PolicyDrop {
		n.c.dropped.Add(k)
		g.r.p.opts.log.Debug("output copies dropped", "output", n.name, "records", k, "err", cause)
	} else {
		for _, rec := range b.recs {
			n.c.errors.Add(1)
			if err := g.root.dl.write("output."+n.name, rec, fmt.Errorf("output %s: %w", n.name, cause)); err != nil {
				b.ack.done(err) // not dead-lettered: not delivered
				b.ack = ackToken{}
				g.root.abort(err)
				break
			}
			n.c.dead.Add(1)
		}
	}
	settle(b) // dropped or dead-lettered: handled
	putBatch(b)
}

// namedWriter is the writer of one named output for the whole run: the
// output is opened once, and each version of a live run (RunLive) hands
// it that version's node when it starts; it writes the nodes in that order,
// each until its feeds are done. So the batches of an old version are all
// written before those of the version that replaced it, as on the main
// output (see execute), and the output is not reopened by a reload.
type namedWriter struct {
	nodes chan *outNode
}

// namedWriter returns the run's writer of named output o, starting it (and
// opening the output) the first time.
func (r *run) namedWriter(root *runState, o NamedOutputPlan) *namedWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.named[o.Name]; ok {
		return w
	}
	if r.named == nil {
		r.named = map[string]*namedWriter{}
	}
	w := &namedWriter{nodes: make(chan *outNode, 64)}
	r.named[o.Name] = w
	r.namedWG.Add(1)
	go func() {
		defer r.namedWG.Done()
		r.writeNamed(root, o, w)
	}()
	return w
}

// closeNamed tells the named outputs' writers that no version will come;
// each ends once the nodes it has are written. It waits for them.
func (r *run) closeNamed() {
	r.mu.Lock()
	for _, w := range r.named {
		close(w.nodes)
	}
	r.mu.Unlock()
	r.namedWG.Wait()
}

// writeNamed opens named output o and writes what reaches it, node by
// node.
func (r *run) writeNamed(root *runState, o NamedOutputPlan, w *namedWriter) {
	snk, closeOut, err := r.openNamedOutput(root.ctx, root, o)
	if err != nil {
		root.abort(err)
		for n := range w.nodes {
			for b := range n.ch {
				putBatch(b)
			}
		}
		return
	}
	block := false
	defer func() {
		if cerr := closeOut(); cerr != nil && block {
			root.abort(&StageError{Stage: "output." + o.Name, Op: "write", Err: cerr})
		}
	}()
	rs := root
	for n := range w.nodes {
		block = n.policy == PolicyBlock
		r.writeNode(rs, n, snk)
	}
	if block && rs.ctx.Err() == nil {
		if err := snk.flush(); err != nil {
			rs.abort(outputErr(o.Name, err))
		}
	}
}

// writeNode writes the batches that reach one version's node n of a named
// output, under n's policy.
func (r *run) writeNode(rs *runState, n *outNode, snk sink) {
	g := &graphRun{r: r, root: rs}
	for b := range n.ch {
		if rs.ctx.Err() != nil {
			putBatch(b)
			continue
		}
		if n.policy == PolicyBlock {
			if err := snk.write(rs, n.c, b, len(n.ch) > 0); err != nil {
				rs.abort(outputErr(n.name, err))
			}
			putBatch(b)
			continue
		}
		if errp := n.failed.Load(); errp != nil {
			g.reject(n, b, *errp)
			continue
		}
		// Drop and dead_letter: each batch is flushed, so that a
		// failing output is known batch by batch and its records
		// counted as what they became.
		// The acknowledgement is settled here, not by the sink: a
		// copy that fails is handled by the policy, not undelivered.
		var tmp counters
		tok := b.ack
		b.ack = ackToken{}
		if err := snk.write(rs, &tmp, b, false); err != nil {
			err = outputErr(n.name, err)
			n.failed.Store(&err)
			r.p.opts.log.Error("output failing; its copies now take its policy", "output", n.name, "policy", n.policy, "err", err)
			b.ack = tok
			g.reject(n, b, err)
			continue
		}
		b.ack = tok
		settle(b)
		n.c.in.Add(tmp.in.Load())
		n.c.passed.Add(tmp.passed.Load())
		n.c.out.Add(tmp.out.Load())
		n.c.errors.Add(tmp.errors.Load())
		n.c.dead.Add(tmp.dead.Load())
		putBatch(b)
	}
}

// outputErr names a named output in a write error.
func outputErr(name string, err error) error {
	var se *StageError
	if errors.As(err, &se) && se.Stage == "output" {
		c := *se
		c.Stage = "output." + name
		return &c
	}
	return err
}

// startSwitch starts the demux, the branches and the merger after a switch
// step whose stage writes to in; it returns the last channel of the chain
// after the switch (nil when that chain ends at an output).
func (g *graphRun) startSwitch(seg *segment, rs *runState, in <-chan *batch) <-chan *batch {
	sw := seg.sw
	nb := len(sw.branches)
	merging := make([]bool, nb)
	inputs := make([]chan *batch, nb)
	brs := make([]*runState, nb)
	var lanes []<-chan *batch
	var laneC []*counters
	for i, b := range sw.branches {
		inputs[i] = make(chan *batch, queueDepth)
		var out <-chan *batch
		brs[i], out = g.startSeg(b, inputs[i])
		merging[i] = out != nil
		if out != nil {
			lanes = append(lanes, out)
			laneC = append(laneC, g.branchCounters(b.name))
		}
	}
	cont := make(chan *batch, queueDepth)
	lanes = append(lanes, cont)
	laneC = append(laneC, nil)
	// One ticket per batch split, sent after its sub-batches: the merger
	// takes one batch from every lane per ticket.
	tickets := make(chan struct{}, 1024)
	merged := make(chan *batch, queueDepth)
	nrs, last := g.startSeg(sw.next, merged)
	// stopped closes when a merging branch stops taking input (one of its
	// stages failed): the merger then waits for a batch that branch will
	// not make until its input closes, so the demux stops splitting,
	// closes the lanes and drains what still comes (the run is failing).
	stopped := make(chan struct{})
	demuxDone := make(chan struct{})
	var once sync.Once
	for i := range nb {
		if merging[i] {
			go func() {
				select {
				case <-brs[i].stop(1):
					once.Do(func() { close(stopped) })
				case <-demuxDone:
				}
			}()
		}
	}
	g.wg.Add(2)
	go func() { // demux
		defer g.wg.Done()
		defer func() {
			for _, ch := range inputs {
				close(ch)
			}
			close(cont)
			close(tickets)
			close(demuxDone)
			for b := range in { // after a failure: what the switch still sends
				putBatch(b)
			}
		}()
		for b := range in {
			subs := make([]*batch, nb+1)
			for _, rec := range b.recs {
				i := takeBranch(rec)
				if i < 0 || i >= nb {
					i = nb
				}
				if subs[i] == nil {
					subs[i] = getBatch()
				}
				subs[i].recs = append(subs[i].recs, rec)
			}
			// b is not recycled: its records live on in subs, which
			// share its acknowledgement.
			for i := range nb {
				if subs[i] == nil && merging[i] {
					subs[i] = getBatch() // a merging lane gets one batch per ticket
				}
			}
			if subs[nb] == nil {
				subs[nb] = getBatch()
			}
			parts := 0
			for _, sb := range subs {
				if sb != nil {
					parts++
				}
			}
			share := shareAck(parts, b.ack)
			if b.last {
				share.fail(errPartial)
			}
			for i := range nb {
				sb := subs[i]
				if sb == nil {
					continue
				}
				sb.ack = share.token()
				g.v.routes.branches[sw.branches[i].name].in.Add(int64(len(sb.recs)))
				brs[i].send(inputs[i], sb, 1)
			}
			sb := subs[nb]
			sb.ack = share.token()
			select {
			case cont <- sb:
			case <-stopped:
				putBatch(sb)
				return
			case <-rs.ctx.Done():
				putBatch(sb)
				return
			}
			select {
			case tickets <- struct{}{}:
			case <-stopped:
				return
			case <-rs.ctx.Done():
				return
			}
		}
	}()
	go func() { // merger
		defer g.wg.Done()
		defer close(merged)
		parts := make([]*batch, len(lanes))
		for range tickets {
			for i, l := range lanes {
				b, ok := <-l
				if !ok { // a branch failed: the run stops; drain the rest
					for _, p := range parts[:i] {
						putBatch(p)
					}
					drainLanes(lanes, tickets)
					return
				}
				if laneC[i] != nil {
					laneC[i].out.Add(int64(len(b.recs)))
				}
				parts[i] = b
			}
			m := mergeByNumber(parts)
			if m != nil && !nrs.send(merged, m, 1) {
				drainLanes(lanes, tickets)
				return
			}
		}
		// The demux is done: what still comes is the branches' flush
		// output, in lane order.
		for i, l := range lanes {
			for b := range l {
				if laneC[i] != nil {
					laneC[i].out.Add(int64(len(b.recs)))
				}
				if len(b.recs) == 0 && !b.ack.tracked() { // tracked: a stateful stage's released acknowledgements
					putBatch(b)
					continue
				}
				if !nrs.send(merged, b, 1) {
					drainLanes(lanes, nil)
					return
				}
			}
		}
	}()
	return last
}

// drainLanes discards what is left in lanes (and tickets) after a failure.
func drainLanes(lanes []<-chan *batch, tickets <-chan struct{}) {
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range l {
				putBatch(b)
			}
		}()
	}
	if tickets != nil {
		for range tickets {
		}
	}
	wg.Wait()
}

// mergeByNumber merges the lanes' batches of one ticket into one batch in
// record-number order (each lane is in order; equal numbers keep lane
// order, so the records a stage split one record into stay together). It
// recycles the parts and returns nil when none has records.
func mergeByNumber(parts []*batch) *batch {
	nonEmpty, total := -1, 0
	for i, p := range parts {
		if len(p.recs) > 0 {
			total += len(p.recs)
			if nonEmpty == -1 {
				nonEmpty = i
			} else {
				nonEmpty = -2
			}
		}
	}
	switch nonEmpty {
	case -1: // nothing to hand on: the parts are done with
		for _, p := range parts {
			settle(p)
			putBatch(p)
		}
		return nil
	case -2:
	default: // one lane has records: hand its batch on as it is
		for i, p := range parts {
			if i != nonEmpty {
				settle(p)
				putBatch(p)
			}
		}
		return parts[nonEmpty]
	}
	m := getBatch()
	// The merged batch settles every part's acknowledgement.
	toks := make([]ackToken, 0, len(parts))
	for _, p := range parts {
		if p.last {
			p.ack.done(errPartial)
			continue
		}
		toks = append(toks, p.ack)
	}
	m.ack = shareAck(1, toks...).token()
	pos := make([]int, len(parts))
	for len(m.recs) < total {
		best := -1
		for i, p := range parts {
			if pos[i] < len(p.recs) && (best < 0 || p.recs[pos[i]].Number() < parts[best].recs[pos[best]].Number()) {
				best = i
			}
		}
		m.recs = append(m.recs, parts[best].recs[pos[best]])
		pos[best]++
	}
	for _, p := range parts {
		putBatch(p)
	}
	return m
}

// startFanout copies every batch of in to each output of the fanout.
func (g *graphRun) startFanout(seg *segment, rs *runState, in <-chan *batch, bc *counters) {
	nodes := make([]*outNode, len(seg.fan))
	for i, t := range seg.fan {
		nodes[i] = g.outs[t.To]
		nodes[i].feeds.Add(1)
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			for _, n := range nodes {
				n.feeds.Done()
			}
		}()
		for b := range in {
			if bc != nil {
				bc.out.Add(int64(len(b.recs)))
			}
			if len(b.recs) == 0 {
				settle(b)
				putBatch(b)
				continue
			}
			// b is not recycled: every copy shares its records and its
			// acknowledgement.
			share := shareAck(len(nodes), b.ack)
			if b.last {
				share.fail(errPartial)
			}
			for _, n := range nodes {
				cp := getBatch()
				cp.recs = append(cp.recs, b.recs...)
				cp.json = b.json // the same records
				cp.ack = share.token()
				g.deliver(rs, n, cp)
			}
		}
	}()
}
