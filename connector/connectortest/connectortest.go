// Package connectortest provides in-memory inputs and outputs for tests of
// the engine and of connectors: an Input that yields given batches and
// records their acknowledgements, and an Output that records what it was
// given and fails on demand.
//
// Register them in a test's own registry:
//
//	in := connectortest.NewInput([]string{"a", "b"}, []string{"c"})
//	out := connectortest.NewOutput()
//	reg := engine.NewRegistry()
//	reg.RegisterInput(in.Type("mem"))
//	reg.RegisterOutput(out.Type("mem"))
//
// and use input: {type: mem} and output: {type: mem} in the pipeline.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
)

// Ack is one acknowledgement an Input received.
type Ack struct {
	Batch int   // index of the batch, in read order
	Err   error // nil: delivered
}

// Input is an in-memory connector.BatchReader. Its batches are read in
// order; then it ends (connector.ErrEndOfInput), or, when Open is set,
// blocks until more batches are added or the run ends. Its methods are safe
// for concurrent use.
type Input struct {
	// Open keeps the input open after its batches: it then blocks for
	// more (Add) until its context is done or Finish is called.
	Open bool

	mu       sync.Mutex
	cond     chan struct{} // closed and replaced when something changes
	batches  []connector.Batch
	next     int
	finished bool
	acks     []Ack
	closed   int
	conns    int
}

// NewInput returns an input of batches of lines (each string one record).
func NewInput(batches ...[]string) *Input {
	in := &Input{cond: make(chan struct{})}
	for _, b := range batches {
		in.Add(b...)
	}
	return in
}

// Add appends a batch of records, one per string.
func (in *Input) Add(recs ...string) {
	b := connector.Batch{}
	for _, r := range recs {
		b.Records = append(b.Records, stage.NewRecord([]byte(r)))
	}
	in.AddBatch(b)
}

// AddBatch appends a batch as it is (Records or Data).
func (in *Input) AddBatch(b connector.Batch) {
	in.mu.Lock()
	in.batches = append(in.batches, b)
	in.signal()
	in.mu.Unlock()
}

// Finish ends an Open input once its batches are read.
func (in *Input) Finish() {
	in.mu.Lock()
	in.finished = true
	in.signal()
	in.mu.Unlock()
}

// signal wakes the waiters; in.mu is held.
func (in *Input) signal() {
	if in.cond != nil {
		close(in.cond)
	}
	in.cond = make(chan struct{})
}

// waitCh returns the channel closed at the next change; in.mu is held.
func (in *Input) waitCh() chan struct{} {
	if in.cond == nil {
		in.cond = make(chan struct{})
	}
	return in.cond
}

// Type returns a registration whose constructor returns in itself (the
// input takes no fields of its own).
func (in *Input) Type(name string) connector.InputType {
	return connector.InputType{Name: name, Summary: "in-memory test input",
		New: func(cfg stage.Config, _ connector.Env) (connector.Input, error) {
			if err := cfg.Decode(&struct{}{}); err != nil {
				return nil, err
			}
			return in, nil
		}}
}

// Connect implements connector.Input.
func (in *Input) Connect(context.Context) error {
	in.mu.Lock()
	in.conns++
	in.mu.Unlock()
	return nil
}

// Close implements connector.Input.
func (in *Input) Close(context.Context) error {
	in.mu.Lock()
	in.closed++
	in.signal()
	in.mu.Unlock()
	return nil
}

// ReadBatch implements connector.BatchReader.
func (in *Input) ReadBatch(ctx context.Context) (connector.Batch, connector.AckFunc, error) {
	for {
		in.mu.Lock()
		if in.next < len(in.batches) {
			i := in.next
			in.next++
			b := in.batches[i]
			in.mu.Unlock()
			var once sync.Once
			ack := func(_ context.Context, err error) error {
				called := false
				once.Do(func() { called = true })
				if !called {
					panic(fmt.Sprintf("connectortest: batch %d acknowledged twice", i))
				}
				in.mu.Lock()
				in.acks = append(in.acks, Ack{Batch: i, Err: err})
				in.signal()
				in.mu.Unlock()
				return nil
			}
			return b, ack, nil
		}
		if (!in.Open || in.finished) && in.next >= len(in.batches) {
			in.mu.Unlock()
			return connector.Batch{}, nil, connector.ErrEndOfInput
		}
		if in.closed > 0 {
			in.mu.Unlock()
			return connector.Batch{}, nil, connector.ErrEndOfInput
		}
		wait := in.waitCh()
		in.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return connector.Batch{}, nil, ctx.Err()
		}
	}
}

// Acks returns the acknowledgements received so far, in the order they
// came.
func (in *Input) Acks() []Ack {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Ack(nil), in.acks...)
}

// WaitAcks blocks until n acknowledgements came or ctx is done.
func (in *Input) WaitAcks(ctx context.Context, n int) ([]Ack, error) {
	for {
		in.mu.Lock()
		if len(in.acks) >= n {
			a := append([]Ack(nil), in.acks...)
			in.mu.Unlock()
			return a, nil
		}
		wait := in.waitCh()
		in.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return in.Acks(), ctx.Err()
		}
	}
}

// Closed reports how many times Close was called.
func (in *Input) Closed() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.closed
}

// Output is an in-memory connector.BatchWriter. Fail, if set, decides each
// attempt's result. Its methods are safe for concurrent use.
type Output struct {
	// Fail is called for every WriteBatch with the attempt number of the
	// call (1-based, counting every call) and the records; a non-nil
	// error fails the write (wrap it with connector.Permanent or
	// connector.RetryAfter as a real output would).
	Fail func(call int, recs []*stage.Record) error

	mu      sync.Mutex
	cond    chan struct{}
	calls   int
	records []*stage.Record
	closed  int
}

// NewOutput returns an output that accepts every write.
func NewOutput() *Output { return &Output{cond: make(chan struct{})} }

// ErrInjected is what FailTimes makes WriteBatch return.
var ErrInjected = errors.New("connectortest: injected failure")

// FailTimes makes the first n calls of WriteBatch fail with ErrInjected
// (transient).
func (o *Output) FailTimes(n int) {
	o.Fail = func(call int, _ []*stage.Record) error {
		if call <= n {
			return ErrInjected
		}
		return nil
	}
}

// Type returns a registration whose constructor returns o itself.
func (o *Output) Type(name string) connector.OutputType {
	return connector.OutputType{Name: name, Summary: "in-memory test output",
		New: func(cfg stage.Config, _ connector.Env) (connector.Output, error) {
			if err := cfg.Decode(&struct{}{}); err != nil {
				return nil, err
			}
			return o, nil
		}}
}

// Connect implements connector.Output.
func (o *Output) Connect(context.Context) error { return nil }

// Close implements connector.Output.
func (o *Output) Close(context.Context) error {
	o.mu.Lock()
	o.closed++
	o.mu.Unlock()
	return nil
}

// WriteBatch implements connector.BatchWriter: it keeps copies of recs
// unless Fail fails the call.
func (o *Output) WriteBatch(ctx context.Context, recs []*stage.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	o.calls++
	call := o.calls
	fail := o.Fail
	o.mu.Unlock()
	if fail != nil {
		if err := fail(call, recs); err != nil {
			return err
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range recs {
		o.records = append(o.records, r.Clone())
	}
	if o.cond != nil {
		close(o.cond)
	}
	o.cond = make(chan struct{})
	return nil
}

// Records returns copies of the records written so far, in order.
func (o *Output) Records() []*stage.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*stage.Record(nil), o.records...)
}

// Lines returns the data of the records written so far, as strings.
func (o *Output) Lines() []string {
	var out []string
	for _, r := range o.Records() {
		out = append(out, string(r.Data))
	}
	return out
}

// Calls returns how many times WriteBatch was called.
func (o *Output) Calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

var (
	_ connector.BatchReader = (*Input)(nil)
	_ connector.BatchWriter = (*Output)(nil)
)
