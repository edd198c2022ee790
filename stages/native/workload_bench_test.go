package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
)

// The workload benchmarks run bench/workloads/native's W0, W4, W4C and W5
// pipelines in-process over 50k generator records (rendered as bench/run.sh
// renders them), input codec to output codec: with W0 on the same input
// they show what part of a run is the stage. ns/op is one pass.
//
//	go test ./stages/native -run '^$' -bench Workload -cpuprofile cpu.prof

const workloadRecords = 50_000

var (
	workloadOnce sync.Once
	workloadData map[string][]byte
	workloadErr  error
)

// workloadInputs returns the generator's records as NDJSON, logfmt (W4)
// and combined-log lines (W4C).
func workloadInputs(tb testing.TB) map[string][]byte {
	tb.Helper()
	workloadOnce.Do(func() {
		var data bytes.Buffer
		if workloadErr = gendata.Write(&data, workloadRecords, 42); workloadErr != nil {
			return
		}
		spec, err := engine.Parse([]byte("input: {codec: ndjson}\noutput: {codec: logfmt}\n"+
			"stages: [{name: flat, type: native, use: delete, config: {field: tags}}]\n"), "render.yaml")
		if err != nil {
			workloadErr = err
			return
		}
		p, err := engine.Build(spec)
		if err != nil {
			workloadErr = err
			return
		}
		var logfmt bytes.Buffer
		if workloadErr = p.RunReader(context.Background(), bytes.NewReader(data.Bytes()), &logfmt); workloadErr != nil {
			return
		}
		var clf bytes.Buffer
		for _, line := range bytes.Split(bytes.TrimSuffix(data.Bytes(), []byte{'\n'}), []byte{'\n'}) {
			var r struct {
				TS, User, Method, Path, Msg string
				Status                      int
			}
			if workloadErr = json.Unmarshal(line, &r); workloadErr != nil {
				return
			}
			ts, err := time.Parse(time.RFC3339Nano, r.TS)
			if err != nil {
				workloadErr = err
				return
			}
			fmt.Fprintf(&clf, "10.0.0.1 - %s [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"pipe-bench/1.0\"\n",
				r.User, ts.Format("02/Jan/2006:15:04:05 -0700"), r.Method, r.Path, r.Status, len(r.Msg))
		}
		workloadData = map[string][]byte{"ndjson": data.Bytes(), "logfmt": logfmt.Bytes(), "clf": clf.Bytes()}
	})
	if workloadErr != nil {
		tb.Fatal(workloadErr)
	}
	return workloadData
}

// benchWorkload runs workload file w (of bench/workloads/native) with one
// worker over input.
func benchWorkload(b *testing.B, w, input string) {
	in := workloadInputs(b)[input]
	file := filepath.Join("..", "..", "bench", "workloads", "native", w+".yaml")
	yaml, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	spec, err := engine.Parse(yaml, file, engine.WithEnv(func(k string) (string, bool) {
		if k == "WORKERS" {
			return "1", true
		}
		return os.LookupEnv(k)
	}))
	if err != nil {
		b.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.RunReader(context.Background(), bytes.NewReader(in), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/workloadRecords, "ns/record")
}

func BenchmarkWorkloadW0Logfmt(b *testing.B) { benchWorkload(b, "w0", "logfmt") }
func BenchmarkWorkloadW4(b *testing.B)       { benchWorkload(b, "w4", "logfmt") }
func BenchmarkWorkloadW0CLF(b *testing.B)    { benchWorkload(b, "w0", "clf") }
func BenchmarkWorkloadW4C(b *testing.B)      { benchWorkload(b, "w4c", "clf") }
func BenchmarkWorkloadW4G(b *testing.B)      { benchWorkload(b, "w4g", "clf") }
func BenchmarkWorkloadW0NDJSON(b *testing.B) { benchWorkload(b, "w0", "ndjson") }
func BenchmarkWorkloadW5(b *testing.B)       { benchWorkload(b, "w5", "ndjson") }

// benchWorkloadStage runs the one stage of workload file w over the lines
// of input, one Transform call a line, without the engine: ns/op is one
// record.
func benchWorkloadStage(b *testing.B, w, input string) {
	lines := bytes.Split(bytes.TrimSuffix(workloadInputs(b)[input], []byte{'\n'}), []byte{'\n'})
	file := filepath.Join("..", "..", "bench", "workloads", "native", w+".yaml")
	yaml, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	spec, err := engine.Parse(yaml, file)
	if err != nil {
		b.Fatal(err)
	}
	st := spec.Stages[0]
	n, ok := engine.DefaultRegistry.LookupNative(st.Use)
	if !ok {
		b.Fatalf("%s not registered", st.Use)
	}
	tr, err := n.New(st.Config)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var rec engine.Record
	emit := func(*engine.Record) {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		if err := tr.Transform(ctx, &rec, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWorkloadStageW4(b *testing.B)  { benchWorkloadStage(b, "w4", "logfmt") }
func BenchmarkWorkloadStageW4C(b *testing.B) { benchWorkloadStage(b, "w4c", "clf") }
func BenchmarkWorkloadStageW4G(b *testing.B) { benchWorkloadStage(b, "w4g", "clf") }
