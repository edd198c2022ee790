package engine_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// ticker passes records and emits "tick N" on each tick while it holds
// records seen since the last tick; it fails its tick when failTick is set.
type ticker struct {
	busy     *atomic.Bool // set during a call, to detect concurrent ones
	seen     int
	ticks    int
	failTick bool
	concur   *atomic.Bool
}

func (t *ticker) enter() func() {
	if !t.busy.CompareAndSwap(false, true) {
		t.concur.Store(true)
	}
	return func() { t.busy.Store(false) }
}

func (t *ticker) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	defer t.enter()()
	t.seen++
	emit(r)
	return nil
}

func (t *ticker) TickInterval() time.Duration { return 5 * time.Millisecond }

func (t *ticker) Tick(_ context.Context, _ time.Time, emit func(*engine.Record)) error {
	defer t.enter()()
	if t.seen == 0 {
		return nil
	}
	if t.failTick {
		return errors.New("tick broke")
	}
	t.ticks++
	t.seen = 0
	emit(engine.NewRecord([]byte("tick")))
	return nil
}

// newTicker returns a constructor of tickers and a flag set if a call of
// one overlapped another.
func newTicker(fail bool) (func() (engine.Transformer, error), *atomic.Bool) {
	busy, concur := &atomic.Bool{}, &atomic.Bool{}
	return func() (engine.Transformer, error) {
		return &ticker{busy: busy, concur: concur, failTick: fail}, nil
	}, concur
}

// TestTickerEmitsWithoutInput: a Ticker's records reach the output while
// the input is open and sends nothing (a pipe, as with tail -f), after the
// record that preceded them; a stage after it sees them as ordinary input.
func TestTickerEmitsWithoutInput(t *testing.T) {
	var seenAfter atomic.Int64
	after := engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		seenAfter.Add(1)
		emit(r)
		return nil
	})
	newClock, concur := newTicker(false)
	spec := &engine.Spec{Stages: []engine.StageSpec{
		{Name: "clock", New: newClock},
		{Name: "after", New: func() (engine.Transformer, error) { return after, nil }},
	}}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- p.RunReader(context.Background(), pr, outW)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	for i := range 3 {
		if _, err := pw.WriteString("rec\n"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"rec", "tick"} {
			if !lines.Scan() {
				t.Fatalf("round %d: output ended before %q: %v", i, want, lines.Err())
			}
			if lines.Text() != want {
				t.Fatalf("round %d: got %q, want %q", i, lines.Text(), want)
			}
		}
	}
	pw.Close()
	if lines.Scan() {
		t.Errorf("unexpected output after the input ended: %q", lines.Text())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if concur.Load() {
		t.Error("Tick ran concurrently with another call of the instance")
	}
	if n := seenAfter.Load(); n != 6 {
		t.Errorf("the next stage saw %d records, want 6 (3 records, 3 ticks)", n)
	}
	if st := stageStats(p, "clock"); st.Out != 6 || st.In != 3 {
		t.Errorf("stage clock: in %d, out %d; want 3 and 6", st.In, st.Out)
	}
}

// TestTickerErrorsFollowOnError: a failing tick stops the pipeline under
// on_error: fail, and is counted under drop.
func TestTickerErrorsFollowOnError(t *testing.T) {
	for _, policy := range []string{engine.OnErrorFail, engine.OnErrorDrop} {
		t.Run(policy, func(t *testing.T) {
			newClock, _ := newTicker(true)
			spec := &engine.Spec{Stages: []engine.StageSpec{{Name: "clock", New: newClock, OnError: policy}}}
			p, err := engine.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			pr, pw, _ := os.Pipe()
			defer pr.Close()
			var out strings.Builder
			done := make(chan error, 1)
			go func() { done <- p.RunReader(context.Background(), pr, &out) }()
			pw.WriteString("rec\n")
			if policy == engine.OnErrorFail {
				err := <-done // the tick's failure ends the run, input still open
				var se *engine.StageError
				if !errors.As(err, &se) || se.Op != "tick" || !strings.Contains(err.Error(), "tick broke") {
					t.Fatalf("run error %v, want a *StageError of op tick", err)
				}
				pw.Close()
				return
			}
			deadline := time.After(time.Minute)
			for stageStats(p, "clock").Errors == 0 {
				select {
				case <-deadline:
					t.Fatal("no tick error counted")
				case <-time.After(5 * time.Millisecond):
				}
			}
			pw.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTickerRefusesWorkers: a stage whose instances tick runs one worker.
func TestTickerRefusesWorkers(t *testing.T) {
	newClock, _ := newTicker(false)
	spec := &engine.Spec{Stages: []engine.StageSpec{{Name: "clock", New: newClock, Workers: 2}}}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = p.RunReader(context.Background(), strings.NewReader("a\n"), io.Discard)
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "workers: 1") {
		t.Fatalf("got %v, want a *ConfigError asking for workers: 1", err)
	}
}

func stageStats(p *engine.Pipeline, name string) engine.StageStats {
	for _, st := range p.Stats() {
		if st.Name == name {
			return st
		}
	}
	return engine.StageStats{}
}
