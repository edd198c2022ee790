package scripttest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
)

// Workload is one of the shared benchmark's workloads (../shared/bench)
// written in a script kind: W1-W3, as in bench/workloads/<kind>.
type Workload struct {
	Name string // W1, W2, W3
	JSON bool   // codec ndjson (W1, W3); lines otherwise (W2)
	Code string
}

// Workloads reads the workloads of kind from the repository's
// bench/workloads/<kind>/w{1,2,3}.yaml (dir is the path of bench/workloads
// from the test's package), so that the Go benchmarks run the code
// bench/run.sh measures.
func Workloads(tb testing.TB, dir, kind string) []Workload {
	tb.Helper()
	var ws []Workload
	for _, w := range []string{"w1", "w2", "w3"} {
		file := filepath.Join(dir, kind, w+".yaml")
		src, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		spec, err := engine.Parse(src, file)
		if err != nil {
			tb.Fatal(err)
		}
		ws = append(ws, Workload{Name: strings.ToUpper(w), JSON: spec.Input.Codec == engine.CodecNDJSON, Code: spec.Stages[0].Code})
	}
	return ws
}

// benchRecords is the size of the batch a benchmark iteration transforms:
// the engine's default batch.
const benchRecords = 1024

// Bench benchmarks a stage of kind on each workload, over benchRecords
// generated log records (seed 42) an iteration: "record" calls Transform
// once a record (the engine's path for kinds without a batch call), "batch"
// calls TransformBatch once for all of them. It reports ns/record and
// allocs/record.
func Bench(b *testing.B, kind string, ws []Workload) {
	var data bytes.Buffer
	if err := gendata.Write(&data, benchRecords, 42); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data.Bytes(), []byte("\n")), []byte("\n"))
	for _, w := range ws {
		for _, mode := range []string{"record", "batch"} {
			b.Run(w.Name+"/"+mode, func(b *testing.B) {
				t := NewInstance(b, kind, w.JSON, w.Code)
				recs := make([]*engine.Record, len(lines))
				fresh := func() {
					for i, l := range lines {
						// A copy: a stage may change a record's bytes in
						// place (Lua W2 upper-cases them).
						recs[i] = engine.NewRecord(bytes.Clone(l))
					}
				}
				var res engine.BatchResult
				out := 0
				emit := func(*engine.Record) { out++ }
				ctx := context.Background()
				bt, _ := t.(engine.BatchTransformer)
				if mode == "batch" && bt == nil {
					b.Skip("not a BatchTransformer")
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					fresh()
					b.StartTimer()
					if mode == "batch" {
						res.Reset(len(recs))
						if err := bt.TransformBatch(ctx, recs, &res); err != nil {
							b.Fatal(err)
						}
						if res.NumFailed() > 0 {
							_, err := res.Failed(0)
							b.Fatal(err)
						}
						out += len(res.Records())
						continue
					}
					for _, r := range recs {
						if err := t.Transform(ctx, r, emit); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				if out == 0 {
					b.Fatal("no output")
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// NewInstance builds, loads and opens one instance of a stage of kind
// running code (codec ndjson when json), closed at the end of the test.
func NewInstance(tb testing.TB, kind string, json bool, code string) engine.Transformer {
	tb.Helper()
	k, ok := engine.DefaultRegistry.KindSpec(kind)
	if !ok {
		tb.Fatalf("kind %s not registered", kind)
	}
	codec := engine.CodecLines
	if json {
		codec = engine.CodecNDJSON
	}
	spec := &engine.StageSpec{Name: "bench", Type: kind, Code: code}
	st, err := k.Build(spec, &engine.BuildEnv{Registry: engine.DefaultRegistry, Codec: codec})
	if err != nil {
		tb.Fatal(err)
	}
	if l, ok := st.(engine.Loader); ok {
		if err := l.Load(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	t, err := st.New(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if c, ok := t.(engine.Closer); ok {
		tb.Cleanup(func() { _ = c.Close() })
	}
	return t
}
