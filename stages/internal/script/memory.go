package script

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMemoryLimit is the memory_limit of a lua or js stage that sets
// none.
const DefaultMemoryLimit = 256 << 20

// ErrMemoryLimit is the error of a record whose script call made the heap
// grow by more than the stage's memory_limit.
var ErrMemoryLimit = errors.New("memory_limit exceeded")

// memCheckEvery is how often the heap is sampled while a guarded call runs.
const memCheckEvery = 5 * time.Millisecond

// A memGuard bounds the memory one script call may take: how much the Go
// heap (runtime/metrics /memory/classes/heap/objects:bytes) grows from the
// call's start, sampled every memCheckEvery by one goroutine shared by all
// guards, which runs only while a guarded call does. Past the limit it
// cancels the call's context, which interrupts the VM like a timeout: the
// record fails with ErrMemoryLimit and the VM is replaced, so the garbage
// it made is freed. The heap is the process's: what other workers allocate
// at the same time counts too, so the limit is a bound on runaway scripts
// (s = s .. s, emit loops, a growing array), not an exact account; see
// RATIONALE.md.
type memGuard struct {
	limit  int64
	base   int64
	cancel context.CancelCauseFunc
	hit    atomic.Bool
}

var watcher struct {
	sync.Mutex
	guards  map[*memGuard]struct{}
	running bool
	heap    atomic.Int64 // the last sample
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func readHeap() int64 {
	s := []metrics.Sample{heapSample[0]}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// begin guards a call under ctx: the returned context is cancelled when
// the call takes more than the limit.
func (g *memGuard) begin(ctx context.Context) context.Context {
	ctx, g.cancel = context.WithCancelCause(ctx)
	g.hit.Store(false)
	watcher.Lock()
	if watcher.running {
		g.base = watcher.heap.Load()
	} else {
		g.base = readHeap()
		watcher.heap.Store(g.base)
		watcher.running = true
		go watch()
	}
	if watcher.guards == nil {
		watcher.guards = map[*memGuard]struct{}{}
	}
	watcher.guards[g] = struct{}{}
	watcher.Unlock()
	return ctx
}

// end ends the guarded call; it reports whether the limit stopped it.
func (g *memGuard) end() bool {
	watcher.Lock()
	delete(watcher.guards, g)
	watcher.Unlock()
	g.cancel(nil)
	return g.hit.Load()
}

func watch() {
	t := time.NewTicker(memCheckEvery)
	defer t.Stop()
	for range t.C {
		heap := readHeap()
		watcher.Lock()
		watcher.heap.Store(heap)
		if len(watcher.guards) == 0 {
			watcher.running = false
			watcher.Unlock()
			return
		}
		for g := range watcher.guards {
			if heap-g.base > g.limit && !g.hit.Load() {
				g.hit.Store(true)
				g.cancel(fmt.Errorf("%w (%d MiB)", ErrMemoryLimit, g.limit>>20))
			}
		}
		watcher.Unlock()
	}
}
