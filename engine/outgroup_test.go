package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// groupingOutput is a connectortest.Output that declares a batch policy:
// the engine groups records across batches for it.
type groupingOutput struct {
	*connectortest.Output
	pol connector.BatchPolicy

	mu    sync.Mutex
	sizes []int // records per WriteBatch call, successful or not
}

func (o *groupingOutput) BatchPolicy() connector.BatchPolicy { return o.pol }

func (o *groupingOutput) WriteBatch(ctx context.Context, recs []*stage.Record) error {
	o.mu.Lock()
	o.sizes = append(o.sizes, len(recs))
	o.mu.Unlock()
	return o.Output.WriteBatch(ctx, recs)
}

func (o *groupingOutput) callSizes() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.sizes)
}

// groupPipeline builds mem input → (stages) → grouping output.
func groupPipeline(t *testing.T, in *connectortest.Input, out *groupingOutput, yaml string, stages ...engine.StageSpec) *engine.Pipeline {
	t.Helper()
	reg := engine.NewRegistry()
	reg.RegisterInput(in.Type("mem"))
	reg.RegisterOutput(connector.OutputType{Name: "grouped", Summary: "test output with a batch policy",
		New: func(cfg stage.Config, _ connector.Env) (connector.Output, error) {
			return out, cfg.Decode(&struct{}{})
		}})
	spec, err := engine.Parse([]byte(yaml), filepath.Join(t.TempDir(), "p.yaml"), engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	spec.Input.Type, spec.Output.Type = "mem", "grouped"
	spec.Stages = append(spec.Stages, stages...)
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func recNames(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a bound against hanging, not a speed check
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestOutputGroupsAcrossBatches: records that come one batch at a time
// are written in groups of max_records; no group's batches are
// acknowledged before its write succeeded; the end of input writes the
// remainder.
func TestOutputGroupsAcrossBatches(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	out := &groupingOutput{Output: connectortest.NewOutput(), pol: connector.BatchPolicy{MaxRecords: 100, Linger: time.Hour}}
	// Every write checks that none of its batches was acknowledged yet,
	// and the first attempt of each group fails (acks wait for the retry).
	var mu sync.Mutex
	var early []string
	attempts := map[int]int{}
	out.Fail = func(call int, recs []*stage.Record) error {
		first := int(recs[0].Number())
		for _, a := range in.Acks() {
			if a.Batch+1 >= first {
				mu.Lock()
				early = append(early, fmt.Sprintf("batch %d acked before the write of records %d..", a.Batch, first))
				mu.Unlock()
			}
		}
		mu.Lock()
		defer mu.Unlock()
		attempts[first]++
		if attempts[first] == 1 {
			return connectortest.ErrInjected
		}
		return nil
	}
	p := groupPipeline(t, in, out, "output: {retry: {max_attempts: 3, initial: 1ms, max: 2ms}}\n")
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, nil) }()

	const n = 250
	for i := range n {
		in.Add(fmt.Sprintf("r%d", i)) // one record per input batch
		if i == 99 {
			// The 100th record fills the group: it is written, then the
			// first hundred batches are acknowledged.
			if _, err := in.WaitAcks(context.Background(), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "the second group", func() bool { return len(in.Acks()) >= 200 })
	if got := len(in.Acks()); got != 200 {
		t.Fatalf("%d acknowledgements after two groups, want 200 (the last 50 wait for their group)", got)
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := out.Lines(), recNames("r", 0, n); !slices.Equal(got, want) {
		t.Fatalf("output %v, want %v", got, want)
	}
	// Two attempts per group: 100, 100, then the end of input's 50.
	if got, want := out.callSizes(), []int{100, 100, 100, 100, 50, 50}; !slices.Equal(got, want) {
		t.Errorf("writes of %v records, want %v", got, want)
	}
	acks := in.Acks()
	if len(acks) != n {
		t.Fatalf("%d acknowledgements, want %d", len(acks), n)
	}
	for i, a := range acks {
		if a.Batch != i || a.Err != nil {
			t.Fatalf("acknowledgement %d: %+v", i, a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("acknowledged before written: %v", early)
	}
}

// TestOutputLingerWrites: a group that is neither full nor ended is
// written when its linger expires, while the input is still open.
func TestOutputLingerWrites(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	out := &groupingOutput{Output: connectortest.NewOutput(), pol: connector.BatchPolicy{MaxRecords: 100, Linger: 20 * time.Millisecond}}
	p := groupPipeline(t, in, out, "name: linger\n")
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, nil) }()
	in.Add("a", "b", "c")
	if _, err := in.WaitAcks(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if got := out.Lines(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("written %v when the linger expired", got)
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.callSizes(); !slices.Equal(got, []int{3}) {
		t.Errorf("writes %v, want one of 3", got)
	}
}

// TestOutputGroupBytes: max_bytes bounds a group (len+1 per record); a
// record larger than it goes alone.
func TestOutputGroupBytes(t *testing.T) {
	in := connectortest.NewInput([]string{"aaaa", "bbbb"}, []string{"cccc", "dddddddddddd", "e"})
	out := &groupingOutput{Output: connectortest.NewOutput(), pol: connector.BatchPolicy{MaxBytes: 10, Linger: time.Hour}}
	p := groupPipeline(t, in, out, "name: bytes\n")
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := out.callSizes(), []int{2, 1, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v", got, want)
	}
	if got := out.Lines(); !slices.Equal(got, []string{"aaaa", "bbbb", "cccc", "dddddddddddd", "e"}) {
		t.Errorf("output %v", got)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
}

// TestOutputGroupDrainedOnStop: stopping the run (SIGTERM) writes the
// group at once, whatever its linger; its batches are acknowledged.
func TestOutputGroupDrainedOnStop(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	out := &groupingOutput{Output: connectortest.NewOutput(), pol: connector.BatchPolicy{MaxRecords: 100, Linger: time.Hour}}
	// A stage that drops "skip" shows that an empty batch waits its turn.
	p := groupPipeline(t, in, out, "name: stop\n", goStage("skip", "", func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		if string(r.Data) != "skip" {
			emit(r)
		}
		return nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, nil, nil) }()
	in.Add("a")
	in.Add("skip")
	in.Add("b")
	// Nothing is written or acknowledged while the group lingers.
	waitFor(t, "two records in the output's group", func() bool {
		st := p.Stats()
		return st[len(st)-1].In == 2
	})
	if len(in.Acks()) != 0 || out.Calls() != 0 {
		t.Fatalf("acks %v, writes %d while the group lingers", in.Acks(), out.Calls())
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("run: %v, want context.Canceled", err)
	}
	if got := out.Lines(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("output %v", got)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
}

// TestNamedOutputGroups: a named output (policy block) that declares a
// batch policy groups too; the input batches wait for its group.
func TestNamedOutputGroups(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	main := connectortest.NewOutput()
	archive := &groupingOutput{Output: connectortest.NewOutput(), pol: connector.BatchPolicy{MaxRecords: 100, Linger: time.Hour}}
	reg := engine.NewRegistry()
	reg.RegisterInput(in.Type("mem"))
	reg.RegisterOutput(main.Type("mem"))
	reg.RegisterOutput(connector.OutputType{Name: "grouped", Summary: "test output with a batch policy",
		New: func(cfg stage.Config, _ connector.Env) (connector.Output, error) {
			return archive, cfg.Decode(&struct{}{})
		}})
	spec, err := engine.Parse([]byte(`
input: {type: mem}
output: {type: mem}
outputs:
  archive: {type: grouped}
stages:
  - name: copies
    fanout: [{to: output}, {to: archive}]
`), filepath.Join(t.TempDir(), "p.yaml"), engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, nil) }()
	for i := range 5 {
		in.Add(fmt.Sprintf("r%d", i))
	}
	waitFor(t, "the main output", func() bool { return len(main.Lines()) == 5 })
	if acks := in.Acks(); len(acks) != 0 || archive.Calls() != 0 {
		t.Fatalf("acks %v, archive writes %d while its group lingers", acks, archive.Calls())
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := archive.callSizes(); !slices.Equal(got, []int{5}) {
		t.Errorf("archive writes %v, want one of 5", got)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true, true, true, true}) {
		t.Errorf("acks %v", in.Acks())
	}
}
