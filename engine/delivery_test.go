package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// memPipeline builds a pipeline from mem input to mem output with the
// given YAML (input and output sections are added) and Go stages.
func memPipeline(t *testing.T, in *connectortest.Input, out *connectortest.Output, yaml string, stages ...engine.StageSpec) *engine.Pipeline {
	t.Helper()
	reg := engine.NewRegistry()
	reg.RegisterInput(in.Type("mem"))
	reg.RegisterOutput(out.Type("mem"))
	spec, err := engine.Parse([]byte(yaml), filepath.Join(t.TempDir(), "p.yaml"), engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	spec.Input.Type, spec.Output.Type = "mem", "mem"
	spec.Stages = append(spec.Stages, stages...)
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func goStage(name, onError string, fn stage.TransformerFunc) engine.StageSpec {
	return engine.StageSpec{Name: name, OnError: onError, New: func() (engine.Transformer, error) { return fn, nil }}
}

func ackErrs(acks []connectortest.Ack) []bool {
	var out []bool
	for i, a := range acks {
		if a.Batch != i {
			panic("acknowledgements out of order")
		}
		out = append(out, a.Err == nil)
	}
	return out
}

func TestAcksAfterDeliveryInOrder(t *testing.T) {
	in := connectortest.NewInput([]string{"a", "b"}, []string{"drop", "x"}, []string{"c"}, []string{"drop"})
	out := connectortest.NewOutput()
	// Fan-out (x → x1, x2) and drops count as delivered.
	p := memPipeline(t, in, out, "name: t\n", goStage("fan", "", func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		switch string(r.Data) {
		case "drop":
			return nil
		case "x":
			emit(r.Derive([]byte("x1")))
			emit(r.Derive([]byte("x2")))
			return nil
		}
		emit(r)
		return nil
	}))
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Lines(), []string{"a", "b", "x1", "x2", "c"}; !slices.Equal(got, want) {
		t.Fatalf("output %q, want %q", got, want)
	}
	acks := in.Acks()
	if got := ackErrs(acks); !slices.Equal(got, []bool{true, true, true, true}) {
		t.Fatalf("acks delivered = %v (%v), want all four", got, acks)
	}
	d := p.Delivery()
	if d.Acked != 6 || d.Watermark != 6 || d.PendingAcks != 0 {
		t.Errorf("delivery = %+v, want the 6 input records acked, watermark 6, none pending", d)
	}
	if in.Closed() != 1 {
		t.Errorf("input closed %d times", in.Closed())
	}
}

func TestFailedRecordIsNeverAcknowledged(t *testing.T) {
	in := connectortest.NewInput([]string{"a"}, []string{"b", "bad", "c"}, []string{"d"})
	out := connectortest.NewOutput()
	p := memPipeline(t, in, out, "name: t\n", goStage("check", "fail", func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		if string(r.Data) == "bad" {
			return errors.New("bad record")
		}
		emit(r)
		return nil
	}))
	err := p.Run(context.Background(), nil, nil)
	var se *engine.StageError
	if !errors.As(err, &se) || se.Stage != "check" {
		t.Fatalf("err = %v, want the stage's failure", err)
	}
	acks := in.Acks()
	if len(acks) == 0 || acks[0].Err != nil {
		t.Fatalf("first batch: %v, want delivered", acks)
	}
	for _, a := range acks[1:] {
		if a.Err == nil {
			t.Errorf("batch %d acknowledged as delivered; it holds or follows the failed record", a.Batch)
		}
	}
	// Every batch read was acknowledged once (delivered or not).
	if n := len(acks); n < 2 {
		t.Errorf("%d acknowledgements, want one per batch read", n)
	}
}

func TestOutputRetriesThenDelivers(t *testing.T) {
	in := connectortest.NewInput([]string{"a", "b"}, []string{"c"})
	out := connectortest.NewOutput()
	out.FailTimes(3)
	p := memPipeline(t, in, out, "name: t\noutput: {retry: {max_attempts: 5, initial: 1ms, max: 2ms}}\n")
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := out.Lines(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("output %q", got)
	}
	if d := p.Delivery(); d.Retries != 3 || d.OutputFailing {
		t.Errorf("delivery = %+v, want 3 retries and a healthy output", d)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("acks = %v", got)
	}
}

func TestOutputGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		fail       func(int, []*stage.Record) error
		wantErr    bool
		wantDead   int
		wantCalls  int
	}{
		{"attempts spent, fail", "output: {retry: {max_attempts: 3, initial: 1ms}}\n",
			func(int, []*stage.Record) error { return connectortest.ErrInjected }, true, 0, 3},
		{"permanent, fail", "output: {retry: {max_attempts: 3, initial: 1ms}}\n",
			func(int, []*stage.Record) error { return connector.Permanent(errors.New("400 bad request")) }, true, 0, 1},
		{"attempts spent, dead letter", "output: {retry: {max_attempts: 2, initial: 1ms}, on_error: dead_letter}\ndead_letter: {path: dl.ndjson}\n",
			func(int, []*stage.Record) error { return connectortest.ErrInjected }, false, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			in := connectortest.NewInput([]string{"a", "b"}, []string{"c"})
			out := connectortest.NewOutput()
			out.Fail = tc.fail
			p := memPipeline(t, in, out, "name: t\n"+tc.yaml)
			err := p.Run(context.Background(), nil, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if out.Calls() != tc.wantCalls {
				t.Errorf("%d write calls, want %d", out.Calls(), tc.wantCalls)
			}
			acks := in.Acks()
			if len(acks) != 2 {
				t.Fatalf("acks %v, want one per batch", acks)
			}
			for _, a := range acks {
				if (a.Err == nil) == tc.wantErr {
					t.Errorf("ack %d: %v", a.Batch, a.Err)
				}
			}
			if tc.wantDead > 0 {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(p.Spec().File), "dl.ndjson"))
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(string(b), "\n"); n != tc.wantDead || !strings.Contains(string(b), `"stage":"output"`) {
					t.Errorf("dead letters:\n%s", b)
				}
			}
		})
	}
}

func TestRetryHonoursCancellation(t *testing.T) {
	in := connectortest.NewInput([]string{"a"})
	out := connectortest.NewOutput()
	failing := make(chan struct{}, 1)
	out.Fail = func(int, []*stage.Record) error {
		select {
		case failing <- struct{}{}:
		default:
		}
		return connector.RetryAfter(connectortest.ErrInjected, time.Hour)
	}
	p := memPipeline(t, in, out, "name: t\noutput: {retry: {max_attempts: 100, initial: 1h, max: 1h}}\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, nil, nil) }()
	<-failing
	for !p.Delivery().OutputFailing { // set before the wait starts
		time.Sleep(time.Millisecond)
	}
	if p.Ready() {
		t.Error("Ready while the output is failing")
	}
	cancel()
	err := <-done // an hour of backoff would time the test out
	if err == nil {
		t.Fatal("run succeeded, but its only batch was never written")
	}
	acks := in.Acks()
	if len(acks) != 1 || acks[0].Err == nil {
		t.Errorf("acks = %v, want the batch not delivered", acks)
	}
}

// A batch of bytes is framed by the input's codec; its Meta goes to every
// record, and the batch is acknowledged once, after all its records.
func TestDataBatchFramedByCodec(t *testing.T) {
	in := connectortest.NewInput()
	in.AddBatch(connector.Batch{Data: []byte("{\"a\":1}\n{\"a\":2}\n"), Meta: map[string]string{"source": "body-1"}})
	in.AddBatch(connector.Batch{Data: []byte("{\"a\":3}")})
	out := connectortest.NewOutput()
	p := memPipeline(t, in, out, "input: {codec: ndjson}\n")
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	recs := out.Records()
	if len(recs) != 3 || string(recs[2].Data) != `{"a":3}` {
		t.Fatalf("records %q", out.Lines())
	}
	for i, r := range recs[:2] {
		if r.Get("source") != "body-1" || r.Number() != int64(i+1) {
			t.Errorf("record %d: meta %v, number %d", i, r.Meta, r.Number())
		}
	}
	if recs[2].Meta != nil {
		t.Errorf("record 3 has meta %v", recs[2].Meta)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("acks = %v", got)
	}
}

// Records an input makes are checked like framed ones: under ndjson a
// record that is not JSON takes the input's on_error.
func TestRecordBatchChecked(t *testing.T) {
	in := connectortest.NewInput([]string{`{"ok":1}`, `not json`, `{"ok":2}`})
	out := connectortest.NewOutput()
	p := memPipeline(t, in, out, "input: {codec: ndjson, on_error: drop}\n")
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := out.Lines(); !slices.Equal(got, []string{`{"ok":1}`, `{"ok":2}`}) {
		t.Fatalf("output %q", got)
	}
	if got := ackErrs(in.Acks()); !slices.Equal(got, []bool{true}) {
		t.Errorf("acks = %v", got)
	}
}
