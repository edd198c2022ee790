package engine

import (
	"context"
	"errors"
	"io"
	"strconv"
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

// spinBatch is a batch transformer that busy-works per record for a fixed
// time (a plugin at 90µs a record), honouring ctx between records, and
// waits for ctx on records equal to "hang" (a stuck record). It notes each
// call: its size, the budget its deadline gave, whether it was cut off.
type spinBatch struct {
	per   time.Duration
	calls []spinCall
}

type spinCall struct {
	n      int
	budget time.Duration
	cut    bool
}

func (s *spinBatch) Transform(ctx context.Context, r *Record, emit func(*Record)) error {
	var res BatchResult
	res.Reset(1)
	if err := s.TransformBatch(ctx, []*Record{r}, &res); err != nil {
		return err
	}
	if _, err := res.Failed(0); res.NumFailed() > 0 {
		return err
	}
	for _, o := range res.Records() {
		emit(o)
	}
	return nil
}

func (s *spinBatch) TransformBatch(ctx context.Context, recs []*Record, out *BatchResult) error {
	start := time.Now()
	d, _ := ctx.Deadline()
	c := spinCall{n: len(recs), budget: d.Sub(start)}
	defer func() { s.calls = append(s.calls, c) }()
	for i, r := range recs {
		if string(r.Data) == "hang" {
			<-ctx.Done()
		}
		for end := time.Now().Add(s.per); time.Now().Before(end); {
		}
		if ctx.Err() != nil {
			c.cut = true
			return ctx.Err()
		}
		out.Emit(i, r)
	}
	return nil
}

func spinPipeline(t *testing.T, s *spinBatch, onError string, timeout time.Duration) *Pipeline {
	reg := NewRegistry()
	reg.Register("spin", func(Config) (Transformer, error) { return s, nil })
	return mustPipeline(t, `stages: [{name: s, type: native, use: spin, timeout: `+timeout.String()+`, on_error: `+onError+`}]`, WithRegistry(reg))
}

// A batch call's deadline scales with the batch: a plugin at 90µs a record
// with timeout: 30ms (about 92ms for a batch of 1024) is cut off at most on
// its first batch, before the worker knows what a record costs; later
// batches get several times their expected duration, never more than the
// records' timeouts added up.
func TestBatchDeadlineScalesWithBatch(t *testing.T) {
	const timeout = 30 * time.Millisecond
	s := &spinBatch{per: 90 * time.Microsecond}
	p := spinPipeline(t, s, "drop", timeout) // (a loaded machine may stall a call past 30ms)
	in := make([]string, 8192)
	for i := range in {
		in[i] = "r" + strconv.Itoa(i)
	}
	var out strings.Builder
	if err := p.RunReader(context.Background(), strings.NewReader(strings.Join(in, "\n")+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()[1]
	if got := strings.Count(out.String(), "\n"); int64(got)+st.Errors != int64(len(in)) || st.Errors != st.Timeouts {
		t.Fatalf("%d records out, stats %+v; want %d in all", got, st, len(in))
	}
	var big, cut, after int
	for i, c := range s.calls {
		if c.n < 100 {
			continue
		}
		big++
		if c.cut && i > 0 {
			cut++
		}
		if i > 0 && c.budget > timeout*2 {
			after++
		}
		if c.budget > time.Duration(c.n)*timeout {
			t.Errorf("batch call %d of %d records: budget %v, more than its records' timeouts", i, c.n, c.budget)
		}
	}
	if big < 4 || after == 0 || cut >= (big-1)/2 {
		t.Errorf("%d batch calls of 100+ records, %d cut off after the first, %d with a budget over 2x the timeout; "+
			"want the first cut off at most (the worker does not yet know what a record costs)", big, cut, after)
	}
}

// A stuck record in a batch: the batch call is cut off at its budget, the
// batch is re-run record by record, and the stuck record, alone, is cut off
// within its own timeout; its neighbours pass. The timeout is far above a
// neighbour's 20µs of work, so that only the stuck record reaches it: with
// 30ms, a loaded machine that stalled a neighbour's call past 30ms cut it
// off too (two single-record timeouts, one record lost).
func TestStuckRecordInBatchCutAtOwnTimeout(t *testing.T) {
	const timeout = time.Second
	for _, onError := range []string{"drop", "fail"} {
		t.Run(onError, func(t *testing.T) {
			s := &spinBatch{per: 20 * time.Microsecond}
			p := spinPipeline(t, s, onError, timeout)
			in := make([]string, 4096)
			for i := range in {
				in[i] = "r" + strconv.Itoa(i)
			}
			in[3000] = "hang"
			var out strings.Builder
			err := p.RunReader(context.Background(), strings.NewReader(strings.Join(in, "\n")+"\n"), &out)
			var hang []spinCall
			for _, c := range s.calls {
				if c.n == 1 && c.cut {
					hang = append(hang, c)
				}
			}
			if len(hang) != 1 || hang[0].budget > timeout {
				t.Errorf("single-record calls cut off: %+v; want one, the stuck record, with the record's timeout %v", hang, timeout)
			}
			if onError == "fail" {
				var se *StageError
				if !errors.As(err, &se) || se.Record != 3001 || !errors.Is(err, ErrStageTimeout) || !strings.Contains(err.Error(), "after 1s") {
					t.Fatalf("run: %v; want record 3001 to time out after 1s", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(out.String(), "\n"); got != len(in)-1 || strings.Contains(out.String(), "hang") {
				t.Errorf("%d records out, want the %d neighbours of the stuck record", got, len(in)-1)
			}
			if st := p.Stats()[1]; st.Timeouts != 1 || st.Errors != 1 {
				t.Errorf("stats %+v: want 1 timeout", st)
			}
		})
	}
}

// The watchdog's lock-free per-record path: among many quick calls, the
// few that wait past the timeout are cut off (their context cancelled with
// the timeout), the quick ones never are, and the call after a cut one
// gets a fresh context.
func TestWatchdogCutsOnlyOverrunningCalls(t *testing.T) {
	const timeout = 40 * time.Millisecond
	wd := newWatchdog(context.Background(), timeout)
	defer wd.stop()
	for i := range 8000 {
		ctx := wd.begin()
		slow := i%1000 == 999
		if slow {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("call %d: not cut off after 10s (timeout %v)", i, timeout)
			}
		}
		cut := wd.disarm()
		if cut != slow {
			t.Fatalf("call %d (slow %v): cut %v", i, slow, cut)
		}
		if slow {
			if ctx.Err() != context.DeadlineExceeded {
				t.Fatalf("call %d: ctx.Err() = %v, want context.DeadlineExceeded", i, ctx.Err())
			}
			err, interrupted := wd.end(nil)
			if !interrupted || !errors.Is(err, ErrStageTimeout) {
				t.Fatalf("call %d: end = %v, %v; want the timeout, interrupted", i, err, interrupted)
			}
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("call %d: a quick call's context is done: %v", i, ctx.Err())
		}
	}
}
