package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// batchOnly is a BatchTransformer without Transform: "split" emits two
// records, "bad" fails, "boom" fails the whole call; it counts its calls.
type batchOnly struct {
	calls, flushes, closes int
}

var errBoom = errors.New("boom")

func (b *batchOnly) TransformBatch(_ context.Context, recs []*engine.Record, out *engine.BatchResult) error {
	b.calls++
	for i, r := range recs {
		switch string(r.Data) {
		case "boom":
			out.Emit(i, r)
			return errBoom
		case "bad":
			out.Emit(i, r.Derive([]byte("partial")))
			out.Fail(i, errors.New("bad record"))
		case "split":
			out.Emit(i, r.Derive([]byte("s1")))
			out.Emit(i, r.Derive([]byte("s2")))
		default:
			r.Data = []byte(strings.ToUpper(string(r.Data)))
			out.Emit(i, r)
		}
	}
	return nil
}

func (b *batchOnly) Flush(_ context.Context, emit func(*engine.Record)) error {
	b.flushes++
	emit(engine.NewRecord([]byte("end")))
	return nil
}

func (b *batchOnly) Close() error { b.closes++; return nil }

func TestBatchOnly(t *testing.T) {
	b := &batchOnly{}
	tr := engine.BatchOnly(b)
	if _, ok := tr.(engine.BatchTransformer); !ok {
		t.Fatal("BatchOnly hides TransformBatch from the engine")
	}
	cases := []struct {
		in   string
		want []string
		err  error
	}{
		{"a", []string{"A"}, nil},
		{"split", []string{"s1", "s2"}, nil},
		{"bad", nil, errors.New("bad record")},
		{"boom", nil, errBoom},
		{"b", []string{"B"}, nil},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			var got []string
			err := tr.Transform(context.Background(), engine.NewRecord([]byte(c.in)), func(r *engine.Record) { got = append(got, string(r.Data)) })
			if (err == nil) != (c.err == nil) || (err != nil && err.Error() != c.err.Error()) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("emitted %q, want %q", got, c.want)
			}
		})
	}
	if b.calls != len(cases) {
		t.Errorf("%d TransformBatch calls for %d records, want one each", b.calls, len(cases))
	}
	var flushed []string
	if err := tr.(engine.Flusher).Flush(context.Background(), func(r *engine.Record) { flushed = append(flushed, string(r.Data)) }); err != nil || len(flushed) != 1 || b.flushes != 1 {
		t.Errorf("Flush: %v, %q, %d calls", err, flushed, b.flushes)
	}
	if err := tr.(engine.Closer).Close(); err != nil || b.closes != 1 {
		t.Errorf("Close: %v, %d calls", err, b.closes)
	}
	if err := tr.(engine.Opener).Open(context.Background()); err != nil {
		t.Errorf("Open of an instance without Open: %v", err)
	}
}

// TestBatchOnlyInPipeline: the engine uses a BatchOnly instance's batch
// path, one call per batch.
func TestBatchOnlyInPipeline(t *testing.T) {
	var insts []*batchOnly
	spec := &engine.Spec{Stages: []engine.StageSpec{{Name: "b", New: func() (engine.Transformer, error) {
		b := &batchOnly{}
		insts = append(insts, b)
		return engine.BatchOnly(b), nil
	}}}}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := p.RunReader(context.Background(), strings.NewReader("a\nsplit\nb\n"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "A\ns1\ns2\nB\nend\n" {
		t.Errorf("out = %q", out.String())
	}
	if len(insts) != 1 || insts[0].calls != 1 || insts[0].closes != 1 {
		t.Errorf("instances %d, calls %d, closes %d; want 1 instance, 1 batch call, 1 close", len(insts), insts[0].calls, insts[0].closes)
	}
}

func TestFirst(t *testing.T) {
	var f engine.First[int]
	if _, ok := f.Take(); ok {
		t.Fatal("Take of an empty First succeeded")
	}
	f.Keep(7)
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, ok := f.Take(); ok {
				got.Add(int64(v))
			}
		}()
	}
	wg.Wait()
	if got.Load() != 7 {
		t.Errorf("the kept value was taken %d/7 times, want exactly once", got.Load())
	}
}
