package lua

import (
	"context"
	"sync/atomic"
)

// interrupt is the context a Lua state runs under between Bind and
// Unbind. gopher-lua's main loop polls ctx.Done() before every
// instruction (a select with a default case): on a cancelCtx that is an
// atomic.Value load, a type assertion and a non-blocking receive from an
// open channel, about 6% of the instructions of Lua W2. Done here returns
// nil (a receive from a nil channel, in a select with a default, returns at
// once) until the bound context is done, and then a closed channel, so the
// loop raises ctx.Err() at its next instruction, as it does with the bound
// context itself.
//
// That breaks context.Context's promise that Done always returns the same
// value, so an interrupt is never handed to anything but the state: a
// context derived from it (context.WithCancel) would see a nil Done and
// never be cancelled. gopher-lua derives one only for coroutines, which
// the sandbox does not open; the host's own code (patterns, conversion)
// reads Err, which is the bound context's.
type interrupt struct {
	context.Context
	done atomic.Pointer[chan struct{}]
	stop func() bool // ends the AfterFunc
}

// closedChan is the Done of an interrupt whose context is done.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newInterrupt(ctx context.Context) *interrupt {
	in := &interrupt{Context: ctx}
	if ctx.Done() == nil {
		return in // never done
	}
	in.stop = context.AfterFunc(ctx, func() { in.done.Store(&closedChan) })
	return in
}

// Done returns nil until the bound context is done, a closed channel after.
func (in *interrupt) Done() <-chan struct{} {
	if p := in.done.Load(); p != nil {
		return *p
	}
	return nil
}

// release ends the watch of the bound context.
func (in *interrupt) release() {
	if in.stop != nil {
		in.stop()
	}
}
