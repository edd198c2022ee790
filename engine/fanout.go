package engine

import "sync"

// A stage's fan-out and collection: one worker goroutine per instance; with
// several workers, a dispatcher hands batches round-robin to the workers
// and a collector takes their output in the same order, so the output
// order is the input order with no sequence numbers and no reorder buffer.

// run starts the stage's workers between in and out. level is the stage's
// index + 1 in runState.stops.
func (st *stageExec) run(rs *runState, level int, c *counters, insts []Transformer, in <-chan *batch, out chan<- *batch, wg *sync.WaitGroup) {
	workers := make([]*worker, len(insts))
	for i, t := range insts {
		workers[i] = newWorker(st, rs, c, t)
	}
	if len(workers) == 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(out)
			w := workers[0]
			w.startTicking() // only a single worker ticks (stage.Ticker)
			defer w.stop()
			if fb := w.loop(in, func(b *batch) bool { return rs.send(out, b, level+1) }); fb != nil {
				if len(fb.recs) == 0 && !fb.ack.tracked() {
					putBatch(fb)
				} else {
					rs.send(out, fb, level+1)
				}
			}
		}()
		return
	}
	// Several workers: batches go round-robin to the workers and are
	// collected in the same order, so the output order is the input order.
	n := len(workers)
	ins := make([]chan *batch, n)
	outs := make([]chan *batch, n)
	for i := range ins {
		ins[i] = make(chan *batch, 1)
		outs[i] = make(chan *batch, 1)
	}
	wg.Add(2 + n)
	go func() { // dispatcher
		defer wg.Done()
		defer func() {
			for _, ch := range ins {
				close(ch)
			}
		}()
		k := 0
		for b := range in {
			if !rs.send(ins[k], b, level) {
				return
			}
			k = (k + 1) % n
		}
	}()
	for i, w := range workers {
		go func() {
			defer wg.Done()
			defer close(outs[i])
			defer w.stop()
			// Towards the collector only an abort drops a batch: a batch
			// that precedes a failure must still reach the output.
			send := func(b *batch) bool { return rs.send(outs[i], b, len(rs.stops)) }
			if fb := w.loop(ins[i], send); fb != nil {
				send(fb)
			}
		}()
	}
	go func() { // collector
		defer wg.Done()
		defer close(out)
		defer func() { // let the workers finish whatever happened
			for _, ch := range outs {
				for b := range ch {
					putBatch(b)
				}
			}
		}()
		finals := make([]*batch, n)
		k := 0
		for {
			b, ok := <-outs[k]
			if !ok {
				return // the worker stopped
			}
			if b.last {
				rs.send(out, b, level+1) // what came before a failure
				return
			}
			if !b.final {
				if !rs.send(out, b, level+1) {
					return
				}
				k = (k + 1) % n
				continue
			}
			// Worker k is done, so every regular batch has been collected:
			// gather the other workers' flush batches and emit them in
			// worker order.
			finals[k] = b
			for j := range n {
				if finals[j] == nil {
					fb, ok := <-outs[j]
					if !ok {
						return
					}
					finals[j] = fb
				}
			}
			for i, fb := range finals {
				if empty := len(fb.recs) == 0 && !fb.ack.tracked(); empty || !rs.send(out, fb, level+1) {
					putBatch(fb) // fb may be reused at once: read nothing of it after
					if !empty {
						for _, rest := range finals[i+1:] {
							putBatch(rest)
						}
						return
					}
				}
			}
			return
		}
	}()
}
