package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// window joins every size records into one ("a+b+c"); it holds the
// records of the window being filled (stage.Retainer). With tick, it
// instead emits what it holds on every tick.
type window struct {
	size int
	tick bool
	held []string
}

func (w *window) Transform(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
	if string(r.Data) == "bad" {
		return fmt.Errorf("bad record")
	}
	w.held = append(w.held, string(r.Data))
	if !w.tick && len(w.held) == w.size {
		w.emit(emit)
	}
	return nil
}

func (w *window) emit(emit func(*stage.Record)) {
	if len(w.held) > 0 {
		emit(stage.NewRecord([]byte(strings.Join(w.held, "+"))))
		w.held = w.held[:0]
	}
}

func (w *window) Flush(_ context.Context, emit func(*stage.Record)) error {
	w.emit(emit)
	return nil
}

// Retained counts the held records: they are the last ones given (a
// failed record ends the run in these tests, so none comes between them).
func (w *window) Retained() int64 { return int64(len(w.held)) }

type tickingWindow struct{ *window }

func (w tickingWindow) TickInterval() time.Duration { return time.Millisecond }
func (w tickingWindow) Tick(_ context.Context, _ time.Time, emit func(*stage.Record)) error {
	w.emit(emit)
	return nil
}

func windowStage(t stage.Transformer) engine.StageSpec {
	return engine.StageSpec{Name: "window", New: func() (engine.Transformer, error) { return t, nil }}
}

// noEarlyAcks makes out check, at every write, that no batch whose
// records the write carries was acknowledged yet; batchOf maps a written
// record to the input batches it came from.
func noEarlyAcks(in *connectortest.Input, out *connectortest.Output, batchOf func(rec string) []int) func() []string {
	var mu sync.Mutex
	var early []string
	out.Fail = func(_ int, recs []*stage.Record) error {
		acked := map[int]bool{}
		for _, a := range in.Acks() {
			acked[a.Batch] = true
		}
		for _, r := range recs {
			for _, b := range batchOf(string(r.Data)) {
				if acked[b] {
					mu.Lock()
					early = append(early, fmt.Sprintf("batch %d acked before %q was written", b, r.Data))
					mu.Unlock()
				}
			}
		}
		return nil
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(early)
	}
}

// TestRetainedAcksWaitForWindow: the acknowledgement of a batch whose
// records a window holds waits until the window was emitted and written;
// the end of input flushes and acknowledges the rest.
func TestRetainedAcksWaitForWindow(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	out := connectortest.NewOutput()
	// Batch i holds record "ri"; a window's record names its records.
	early := noEarlyAcks(in, out, func(rec string) []int {
		var bs []int
		for _, p := range strings.Split(rec, "+") {
			var i int
			fmt.Sscanf(p, "r%d", &i)
			bs = append(bs, i)
		}
		return bs
	})
	p := memPipeline(t, in, out, "name: retain\n", windowStage(&window{size: 3}))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, nil) }()
	ctx := context.Background()
	in.Add("r0")
	in.Add("r1")
	waitFor(t, "two records in the window", func() bool { return p.Stats()[1].In == 2 })
	if n := len(in.Acks()); n != 0 {
		t.Fatalf("%d acknowledgements while the window holds their records", n)
	}
	in.Add("r2") // closes the window
	if _, err := in.WaitAcks(ctx, 3); err != nil {
		t.Fatal(err)
	}
	in.Add("r3")
	waitFor(t, "the fourth record in the window", func() bool { return p.Stats()[1].In == 4 })
	if n := len(in.Acks()); n != 3 {
		t.Fatalf("%d acknowledgements, want 3 (r3 is held)", n)
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := out.Lines(), []string{"r0+r1+r2", "r3"}; !slices.Equal(got, want) {
		t.Fatalf("output %q, want %q", got, want)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true, true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
	if e := early(); len(e) > 0 {
		t.Error(e)
	}
}

// TestRetainedAcrossBatches: windows that end inside a batch release the
// batches before it and keep the batch holding the next window's start.
func TestRetainedAcrossBatches(t *testing.T) {
	in := connectortest.NewInput([]string{"a", "b"}, []string{"c", "d"}, []string{"e"}, []string{"f", "g"})
	out := connectortest.NewOutput()
	batchOf := map[string]int{"a": 0, "b": 0, "c": 1, "d": 1, "e": 2, "f": 3, "g": 3}
	early := noEarlyAcks(in, out, func(rec string) []int {
		var bs []int
		for _, p := range strings.Split(rec, "+") {
			bs = append(bs, batchOf[p])
		}
		return bs
	})
	p := memPipeline(t, in, out, "name: retain\n", windowStage(&window{size: 3}))
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Lines(), []string{"a+b+c", "d+e+f", "g"}; !slices.Equal(got, want) {
		t.Fatalf("output %q, want %q", got, want)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true, true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
	if e := early(); len(e) > 0 {
		t.Error(e)
	}
}

// TestRetainedReleasedByTick: a window emitted by a tick (no input record
// arrives) releases its batches' acknowledgements after the tick's output
// was written.
func TestRetainedReleasedByTick(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	out := connectortest.NewOutput()
	early := noEarlyAcks(in, out, func(rec string) []int {
		var bs []int
		for _, p := range strings.Split(rec, "+") {
			var i int
			fmt.Sscanf(p, "r%d", &i)
			bs = append(bs, i)
		}
		return bs
	})
	p := memPipeline(t, in, out, "name: tick\n", windowStage(tickingWindow{&window{tick: true}}))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, nil) }()
	in.Add("r0")
	if _, err := in.WaitAcks(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if got := out.Lines(); len(got) != 1 || got[0] != "r0" {
		t.Fatalf("output %q when r0 was acknowledged", got)
	}
	in.Add("r1")
	if _, err := in.WaitAcks(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
	if e := early(); len(e) > 0 {
		t.Error(e)
	}
}

// TestRetainedNotAckedOnFailure: a run that fails while a window holds
// records acknowledges them as not delivered (they are read again).
func TestRetainedNotAckedOnFailure(t *testing.T) {
	in := connectortest.NewInput([]string{"a"}, []string{"b"}, []string{"bad"})
	out := connectortest.NewOutput()
	p := memPipeline(t, in, out, "name: fail\n", windowStage(&window{size: 3}))
	if err := p.Run(context.Background(), nil, nil); err == nil {
		t.Fatal("run succeeded; the bad record should fail it")
	}
	if got := out.Lines(); len(got) != 0 {
		t.Errorf("output %q: a failed run emits no partial window", got)
	}
	acks := in.Acks()
	if len(acks) != 3 {
		t.Fatalf("acks %v, want three", acks)
	}
	for _, a := range acks {
		if a.Err == nil {
			t.Errorf("batch %d acknowledged as delivered while its record was held", a.Batch)
		}
	}
}

// TestRetainedWithWorkers: with two instances each holds the tokens of
// the batches it was given; every acknowledgement waits for the flush
// batches, which come in worker order.
func TestRetainedWithWorkers(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	out := connectortest.NewOutput()
	early := noEarlyAcks(in, out, func(rec string) []int {
		var bs []int
		for _, p := range strings.Split(rec, "+") {
			var i int
			fmt.Sscanf(p, "r%d", &i)
			bs = append(bs, i)
		}
		return bs
	})
	st := engine.StageSpec{Name: "window", Workers: 2, New: func() (engine.Transformer, error) { return &window{size: 100}, nil }}
	p := memPipeline(t, in, out, "name: workers\n", st)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, nil) }()
	for i := range 6 {
		in.Add(fmt.Sprintf("r%d", i))
	}
	waitFor(t, "six records in the stage", func() bool { return p.Stats()[1].In == 6 })
	if n := len(in.Acks()); n != 0 {
		t.Fatalf("%d acknowledgements while the windows hold every record", n)
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := out.Lines(), []string{"r0+r2+r4", "r1+r3+r5"}; !slices.Equal(got, want) {
		t.Fatalf("output %q, want %q", got, want)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true, true, true, true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
	if e := early(); len(e) > 0 {
		t.Error(e)
	}
}
