package engine

import (
	"slices"

	"github.com/pipe-dev/pipe/connector"
)

// StageStats are the counts of one stage (or of the input or output).
// For every stage, once the run has ended:
// In = Passed + Dropped + Errors + NotProcessed.
type StageStats struct {
	Name         string
	Kind         string
	In           int64 // records that entered
	InBytes      int64 // bytes of the records that entered (stages only)
	Passed       int64 // records that produced at least one output
	Out          int64 // records emitted (splits count each)
	Dropped      int64 // records the stage dropped (emitted nothing)
	Errors       int64 // records that failed (timeouts and too large included)
	DeadLettered int64 // failed records written to the dead-letter file
	Timeouts     int64 // failed records that timed out
	// NotProcessed counts the records handed to the stage that got no
	// outcome because the run stopped first (a failure under on_error:
	// fail, a plugin that could not be restarted, a signal, an output
	// that failed). It is set when the run has ended (0 before), and In
	// then includes the records that were handed on but never taken.
	NotProcessed int64
	Busy         int64  // nanoseconds spent in the stage's transformers
	Restarts     int64  // restarts of the stage's runtime (rpc plugins), over the pipeline's life
	Plugin       string // NAME@VERSION when the stage runs a plugin from a plugin directory
	// BatchLatency counts batches by the time the stage took for them:
	// BatchLatency[i] batches took at most LatencyBuckets[i] (and more than
	// the bound before); the last element counts the slower ones. Nil when
	// no batch went through.
	BatchLatency []int64
}

// add adds o's counts to st's.
func (st *StageStats) add(o StageStats) {
	st.In += o.In
	st.InBytes += o.InBytes
	st.Passed += o.Passed
	st.Out += o.Out
	st.Dropped += o.Dropped
	st.Errors += o.Errors
	st.DeadLettered += o.DeadLettered
	st.Timeouts += o.Timeouts
	st.NotProcessed += o.NotProcessed
	st.Busy += o.Busy
	if o.BatchLatency != nil && st.BatchLatency == nil {
		st.BatchLatency = make([]int64, len(o.BatchLatency))
	}
	for i, n := range o.BatchLatency {
		st.BatchLatency[i] += n
	}
}

// Ready reports whether a run is under way with every stage instance open
// (what /readyz serves).
func (p *Pipeline) Ready() bool {
	r := p.last.Load()
	if r == nil || !r.ready.Load() || r.outputFailing.Load() {
		return false
	}
	for _, ref := range []*connRef{r.inputConn.Load(), r.outputConn.Load()} {
		if ref == nil {
			continue
		}
		if h, ok := ref.c.(connector.Health); ok && h.Healthy() != nil {
			return false
		}
	}
	return true
}

// Stats returns the counts of the current or last run: the input first, then
// every stage in order, then the output. After a live run switched versions
// (RunLive), the stages are those of the runVersion active last, each with the
// counts of every runVersion's stage of the same name added up, so that they
// cover the whole run.
func (p *Pipeline) Stats() []StageStats {
	r := p.last.Load()
	if r == nil { // never ran
		out := []StageStats{{Name: "input"}}
		for _, s := range p.stages {
			out = append(out, StageStats{Name: s.plan.Name, Kind: s.plan.Kind, Restarts: s.events.restarts.Load(), Plugin: s.plan.Plugin})
		}
		return out
	}
	return r.stats()
}

// stats adds up the run's counters (see Pipeline.Stats).
func (r *run) stats() []StageStats {
	r.mu.Lock() // (release replaces the pipelines of versions)
	defer r.mu.Unlock()
	versions := slices.Clone(r.versions)
	out := []StageStats{r.in.snapshot("input", "")}
	cur := versions[len(versions)-1]
	for i, s := range cur.p.stages {
		st := cur.stats[i].snapshot(s.plan.Name, s.plan.Kind)
		st.Restarts = s.events.restarts.Load()
		st.Plugin = s.plan.Plugin
		for _, v := range versions[:len(versions)-1] {
			if v.p == cur.p {
				continue
			}
			for j, e := range v.p.stages {
				if e.plan.Name == s.plan.Name {
					st.add(v.stats[j].snapshot(e.plan.Name, e.plan.Kind))
					st.Restarts += e.events.restarts.Load()
				}
			}
		}
		out = append(out, st)
	}
	out = append(out, cur.routeStats(out[1:])...)
	out = append(out, r.out.snapshot("output", ""))
	if r.over.Load() {
		accountNotProcessed(out, len(versions) == 1 && cur.routes == nil)
	}
	return out
}
