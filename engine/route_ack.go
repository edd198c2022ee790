package engine

import (
	"sync"
	"sync/atomic"
)

// Acknowledgements across branches. An input batch's acknowledgement (its
// ackToken) travels with the batch. When a switch's demux or a fanout
// splits a batch into parts, the parts share the parent's token through an
// ackShare: the parent is settled once every part was (written, dropped or
// dead-lettered by its output, or consumed by a merge), with the first
// error any part reported. When the merger joins the parts of several
// lanes, the joined batch holds a share that settles every part's token.
// So a record's input batch is acknowledged only after each output that
// any copy of it went to has settled it.

// ackShare settles its parents' tokens once pending parts are settled.
type ackShare struct {
	ups     []ackToken
	pending atomic.Int64
	mu      sync.Mutex
	err     error
}

// shareAck returns tokens for n parts that together settle parents (nil
// when no parent is tracked: nothing waits).
func shareAck(n int, parents ...ackToken) *ackShare {
	var ups []ackToken
	for _, p := range parents {
		if p.tracked() {
			ups = append(ups, p)
		}
	}
	if len(ups) == 0 || n <= 0 {
		return nil
	}
	s := &ackShare{ups: ups}
	s.pending.Store(int64(n))
	return s
}

// token returns the token of one part (zero when s is nil).
func (s *ackShare) token() ackToken {
	if s == nil {
		return ackToken{}
	}
	return ackToken{n: s}
}

func (s *ackShare) done(err error) {
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	if s.pending.Add(-1) != 0 {
		return
	}
	s.mu.Lock()
	err = s.err
	s.mu.Unlock()
	for _, u := range s.ups {
		u.done(err)
	}
}

// errPartial settles the acknowledgement of a batch that a failing stage
// cut short (batch.last): its input batch is not delivered.
var errPartial = errAckPartial{}

type errAckPartial struct{}

func (errAckPartial) Error() string { return "a record of the batch failed" }

// settle settles b's acknowledgement as handled (nil), or as not delivered
// when a failing stage cut b short, and forgets it.
func settle(b *batch) {
	if b.last {
		b.ack.done(errPartial)
	} else {
		b.ack.done(nil)
	}
	b.ack = ackToken{}
}

// fail records err as the shares' error (nil-safe).
func (s *ackShare) fail(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}
