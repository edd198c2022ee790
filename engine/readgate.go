package engine

import (
	"errors"
	"io"
	"sync"
	"time"
)

// errReadAbandoned ends a read that returned after the run stopped waiting
// for it: what it read is neither framed nor counted.
var errReadAbandoned = errors.New("input read abandoned: the run stopped taking input")

// readGrace is how long a stop waits for a read in progress to return
// before it gives up on it (a quiet pipe or terminal may never answer).
const readGrace = 100 * time.Millisecond

// testHookSourceDone, when set (tests), runs when the reader of an input
// that is not waited for (stdin) has returned.
var testHookSourceDone func()

// readGate lets the run tell, once ctx is done, when an input whose reads
// may block for ever (stdin) has handed on every record it framed. The
// reader frames and hands on what a read returned before it reads again,
// and it does not read again once ctx is done; so the run waits while the
// reader frames, waits readGrace for a read in progress, and gives up on
// a read still blocked after that. A signal then never loses records that
// were read (and counted) but not yet handed on.
type readGate struct {
	mu        sync.Mutex
	reading   bool
	abandoned bool
	entered   chan struct{} // a read began (buffered: one pending signal)
	returned  chan struct{} // a read returned (buffered: one pending signal)
}

func (g *readGate) init() {
	g.mu.Lock()
	if g.entered == nil {
		g.entered = make(chan struct{}, 1)
		g.returned = make(chan struct{}, 1)
	}
	g.mu.Unlock()
}

// wrap returns r with its reads watched by g.
func (g *readGate) wrap(r io.Reader) io.Reader {
	g.init()
	return gatedReader{r, g}
}

// inRead reports whether the reader is blocked in a read.
func (g *readGate) inRead() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reading
}

// abandon gives up on the reader if it is still in a read; it reports
// whether the reader is (now) abandoned.
func (g *readGate) abandon() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reading {
		g.abandoned = true
	}
	return g.abandoned
}

type gatedReader struct {
	r io.Reader
	g *readGate
}

func (r gatedReader) Read(p []byte) (int, error) {
	g := r.g
	g.mu.Lock()
	if g.abandoned {
		g.mu.Unlock()
		return 0, errReadAbandoned
	}
	g.reading = true
	g.mu.Unlock()
	signal(g.entered)
	n, err := r.r.Read(p)
	g.mu.Lock()
	g.reading = false
	abandoned := g.abandoned
	g.mu.Unlock()
	signal(g.returned)
	if abandoned {
		return 0, errReadAbandoned
	}
	return n, err
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// gateOf returns the read gate of src, nil if it has none: only a stream
// input whose reads may block for ever (stdin) is watched.
func gateOf(src source) *readGate {
	if s, ok := src.(*streamSource); ok && !s.interruptible() {
		s.gate.init()
		return &s.gate
	}
	return nil
}

// drainGated forwards what the reader hands over on raw after ctx is done,
// until the reader ends (raw closed), is abandoned in a blocked read, or
// forwarding stops (send false, stopped or the run failing).
func drainGated(g *readGate, raw <-chan *batch, send func(*batch) bool, stopped <-chan struct{}, failed <-chan struct{}) {
	var grace <-chan time.Time
	for {
		select {
		case b, ok := <-raw:
			if !ok || !send(b) {
				return
			}
			continue
		default:
		}
		if g.inRead() && grace == nil {
			grace = time.After(readGrace)
		}
		select {
		case b, ok := <-raw:
			if !ok || !send(b) {
				return
			}
		case <-g.entered:
		case <-g.returned:
		case <-grace:
			if g.abandon() {
				forwardQueued(raw, send) // what was handed over before the read began
				return
			}
			grace = nil
		case <-stopped:
			return
		case <-failed:
			return
		}
	}
}

// forwardQueued forwards the batches already queued on raw, until it is
// empty or closed or send fails.
func forwardQueued(raw <-chan *batch, send func(*batch) bool) {
	for {
		select {
		case b, ok := <-raw:
			if !ok || !send(b) {
				return
			}
		default:
			return
		}
	}
}
