// Package bench holds the throughput benchmarks of pipe. Data comes from the
// shared generator (../../shared/bench/gen); see README.md.
//
//	go test -bench . -benchmem ./bench
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/all"
)

// Records is the size of the in-memory data set of the Go benchmarks.
const Records = 100_000

var (
	dataOnce sync.Once
	data     []byte
	dataErr  error
)

// Data returns Records generated log records (seed 42), generated once.
func Data(tb testing.TB) []byte {
	tb.Helper()
	dataOnce.Do(func() {
		gen := filepath.Join("..", "..", "shared", "bench", "gen", "main.go")
		if _, err := os.Stat(gen); err != nil {
			dataErr = err
			return
		}
		out, err := exec.Command("go", "run", gen, "-n", fmt.Sprint(Records), "-seed", "42").Output()
		data, dataErr = out, err
	})
	if dataErr != nil {
		tb.Skipf("benchmark data generator not available (shared/bench/gen beside the checkout): %v", dataErr)
	}
	return data
}

// BenchmarkWorkloads runs every workloads/<kind>/w*.yaml with 1 and 2
// workers: records/s, MB/s and allocations per record, per kind and
// workload. A kind not compiled in, or whose fixtures are missing, is
// skipped.
func BenchmarkWorkloads(b *testing.B) {
	files, _ := filepath.Glob("workloads/*/w*.yaml")
	for _, f := range files {
		kind := filepath.Base(filepath.Dir(f))
		w := strings.ToUpper(strings.TrimSuffix(filepath.Base(f), ".yaml"))
		for _, workers := range []string{"1", "2"} {
			if (w == "W0" || w == "W5") && workers == "2" {
				continue // W5: an aggregate with time windows runs one worker
			}
			b.Run(kind+"/"+w+"/workers="+workers, func(b *testing.B) {
				yaml, err := os.ReadFile(f)
				if err != nil {
					b.Fatal(err)
				}
				spec, err := engine.Parse(yaml, f, engine.WithEnv(func(k string) (string, bool) {
					if k == "WORKERS" {
						return workers, true
					}
					return os.LookupEnv(k)
				}))
				if err != nil {
					b.Fatal(err)
				}
				runSpec(b, spec, workloadInput(b, w, Data(b)))
			})
		}
	}
}

func runPipeline(b *testing.B, yaml string, in []byte) {
	spec, err := engine.Parse([]byte(yaml), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	runSpec(b, spec, in)
}

func runSpec(b *testing.B, spec *engine.Spec, in []byte) {
	p, err := engine.Build(spec)
	if err != nil {
		b.Skipf("%s: %v", spec.File, err) // a kind not built into pipe
	}
	defer p.Close()
	if err := p.Load(context.Background()); err != nil {
		b.Skipf("%s: %v (are its fixtures built? make fixtures)", spec.File, err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := p.RunReader(context.Background(), bytes.NewReader(in), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	runtime.ReadMemStats(&after)
	recs := float64(bytes.Count(in, []byte{'\n'})) * float64(b.N)
	b.ReportMetric(recs/el.Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recs, "allocs/record")
}

// The engine's own costs, on W0's data with trivial stages.

// BenchmarkCodecLines splits the data into line records and joins them
// again (no stage).
func BenchmarkCodecLines(b *testing.B) { runPipeline(b, `input: {codec: lines}`, Data(b)) }

// BenchmarkCodecNDJSON adds JSON validation of every record.
func BenchmarkCodecNDJSON(b *testing.B) { runPipeline(b, `input: {codec: ndjson}`, Data(b)) }

const identity = `stages:
  - {name: id, type: native, use: trim, timeout: %s, workers: %d}`

// BenchmarkBatchHandoff: one stage that does almost nothing, no timeout:
// the cost of a stage hop (queue, goroutine, counters).
func BenchmarkBatchHandoff(b *testing.B) { runPipeline(b, fmt.Sprintf(identity, "0", 1), Data(b)) }

// BenchmarkTimeoutDecorator: the same with the per-record timeout armed.
func BenchmarkTimeoutDecorator(b *testing.B) { runPipeline(b, fmt.Sprintf(identity, "5s", 1), Data(b)) }

// BenchmarkWorkersReorder: the same stage with 2 workers (dispatch and
// in-order collection).
func BenchmarkWorkersReorder(b *testing.B) { runPipeline(b, fmt.Sprintf(identity, "5s", 2), Data(b)) }

// BenchmarkBoundary is the cost of crossing into each kind's runtime: an
// identity stage of every kind on W0's lines (compare with
// BenchmarkBatchHandoff, a native stage that does as little).
func BenchmarkBoundary(b *testing.B) {
	for _, c := range []struct{ kind, stage string }{
		{"native", `{name: id, type: native, use: trim}`},
		{"native-so", `{name: id, type: native, path: '${PIPE_SO_DIR:-../../stages/native/testdata/so}/cases.so', config: {case: identity}}`},
		{"lua", `{name: id, type: lua, code: 'return rec'}`},
		{"js", `{name: id, type: js, code: 'return rec'}`},
		{"rpc", `{name: id, type: rpc, path: ../../stages/rpc/testdata/bin/cases, args: [identity]}`},
		{"wasm", `{name: id, type: wasm, path: ../../stages/wasm/testdata/bin/cases.wasm, config: {case: identity}}`},
	} {
		b.Run(c.kind, func(b *testing.B) {
			spec, err := engine.Parse([]byte("stages: ["+c.stage+"]"), "bench/boundary.yaml")
			if err != nil {
				b.Fatal(err)
			}
			runSpec(b, spec, Data(b))
		})
	}
}
