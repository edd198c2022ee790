package engine

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A native transformer with timeout: 50ms sees the call's deadline in its
// context, a timeout is context.DeadlineExceeded for it, and the record's
// error matches both context.DeadlineExceeded and ErrStageTimeout.
func TestCallContextHasDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	type seen struct {
		start, asked, deadline time.Time
		ok                     bool
		err, childCause        error
		childDeadline          time.Time
	}
	calls := make(chan seen, 2)
	reg := NewRegistry()
	reg.Register("wait", func(Config) (Transformer, error) {
		return TransformerFunc(func(ctx context.Context, r *Record, emit func(*Record)) error {
			var s seen
			s.start = time.Now()
			s.deadline, s.ok = ctx.Deadline()
			s.asked = time.Now()
			if string(r.Data) != "hang" {
				calls <- s
				emit(r)
				return nil
			}
			child, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			s.childDeadline, _ = child.Deadline()
			<-child.Done() // native code is cooperative: it waits on ctx
			s.err, s.childCause = ctx.Err(), context.Cause(child)
			calls <- s
			return ctx.Err()
		}), nil
	})
	p := mustPipeline(t, `stages: [{name: w, type: native, use: wait, timeout: 50ms}]`, WithRegistry(reg))
	err := p.RunReader(context.Background(), strings.NewReader("ok\nhang\n"), io.Discard)

	first := <-calls // the first call to ask: its deadline counts from the asking
	if !first.ok || first.deadline.Before(first.start.Add(timeout)) || first.deadline.After(first.asked.Add(timeout)) {
		t.Errorf("first call: Deadline() = %v, %v; want about now+%v (call began %v)", first.deadline, first.ok, timeout, first.start)
	}
	second := <-calls // later calls: the deadline counts from the call's start
	if !second.ok || second.deadline.After(second.start.Add(timeout)) || !second.deadline.After(first.asked) {
		t.Errorf("second call: Deadline() = %v, %v; want its start (before %v) + %v", second.deadline, second.ok, second.start, timeout)
	}
	if !second.childDeadline.Equal(second.deadline) {
		t.Errorf("derived context's deadline %v, want the call's %v", second.childDeadline, second.deadline)
	}
	if second.err != context.DeadlineExceeded {
		t.Errorf("ctx.Err() after the timeout = %v, want context.DeadlineExceeded", second.err)
	}
	if !errors.Is(second.childCause, context.DeadlineExceeded) || !errors.Is(second.childCause, ErrStageTimeout) {
		t.Errorf("derived context's cause %v, want the timeout", second.childCause)
	}
	var se *StageError
	if !errors.As(err, &se) || se.Record != 2 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrStageTimeout) ||
		!strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("run: %v; want record 2 to fail with a timeout matching context.DeadlineExceeded and ErrStageTimeout", err)
	}
}

// A call that gives up at the deadline it was told, before the watchdog
// cuts it off (an rpc plugin honouring its gRPC deadline), is a timeout too.
func TestFailureAfterDeadlineIsTimeout(t *testing.T) {
	reg := NewRegistry()
	reg.Register("early", func(Config) (Transformer, error) {
		return TransformerFunc(func(ctx context.Context, r *Record, emit func(*Record)) error {
			d, _ := ctx.Deadline()
			time.Sleep(time.Until(d))
			return errors.New("plugin: deadline exceeded")
		}), nil
	})
	p := mustPipeline(t, `stages: [{name: e, type: native, use: early, timeout: 200ms, on_error: drop}]`, WithRegistry(reg))
	if err := p.RunReader(context.Background(), strings.NewReader("a\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats()[1]; st.Errors != 1 || st.Timeouts != 1 {
		t.Errorf("stats %+v: want 1 error, a timeout", st)
	}
}
