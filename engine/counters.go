package engine

import (
	"sync/atomic"
	"time"
)

type counters struct {
	in, inBytes, passed, out, dropped, errors, dead, timeouts, busy atomic.Int64
	batches                                                         [len(LatencyBuckets) + 1]atomic.Int64
}

// LatencyBuckets are the upper bounds of the batch latency histogram of
// StageStats (the time a stage takes for one batch).
var LatencyBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

func (c *counters) observe(d time.Duration) {
	c.busy.Add(int64(d))
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	c.batches[i].Add(1)
}

func (c *counters) snapshot(name, kind string) StageStats {
	st := StageStats{Name: name, Kind: kind, In: c.in.Load(), InBytes: c.inBytes.Load(), Passed: c.passed.Load(), Out: c.out.Load(),
		Dropped: c.dropped.Load(), Errors: c.errors.Load(), DeadLettered: c.dead.Load(),
		Timeouts: c.timeouts.Load(), Busy: c.busy.Load()}
	for i := range c.batches {
		if n := c.batches[i].Load(); n > 0 || st.BatchLatency != nil {
			if st.BatchLatency == nil {
				st.BatchLatency = make([]int64, len(c.batches))
			}
			st.BatchLatency[i] = n
		}
	}
	return st
}
