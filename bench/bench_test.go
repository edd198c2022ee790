// Package bench holds the throughput benchmarks of pipe. Data comes from the
// shared generator (../../shared/bench/gen); see README.md.
//
//	go test -bench . -benchmem ./bench
package bench

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
		out, err := exec.Command("go", "run", gen, "-n", "100000", "-seed", "42").Output()
		data, dataErr = out, err
	})
	if dataErr != nil {
		tb.Skipf("benchmark data generator not available (shared/bench/gen beside the checkout): %v", dataErr)
	}
	return data
}

// Workloads of shared/bench/README.md, as native pipelines.
var Workloads = map[string]string{
	"W0": `input: {codec: lines}`,
	"W1": `input: {codec: ndjson}
stages:
  - {name: errors, type: native, use: select, config: {field: level, equals: error}}
  - {name: shout, type: native, use: case, config: {field: msg, to: upper}}
  - {name: mark, type: native, use: set, config: {fields: {processed: true}}}`,
	"W2": `stages:
  - {name: upper, type: native, use: case, config: {to: upper}}`,
	"W3": `input: {codec: ndjson}
stages:
  - {name: per-tag, type: native, use: explode, config: {field: tags, as: tag}}`,
}

func runPipeline(b *testing.B, yaml string, in []byte) {
	spec, err := engine.Parse([]byte(yaml), "bench.yaml")
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
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := p.RunReader(context.Background(), bytes.NewReader(in), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	recs := float64(bytes.Count(in, []byte{'\n'})) * float64(b.N)
	b.ReportMetric(recs/el.Seconds(), "records/s")
}

func BenchmarkNativeW0(b *testing.B) { runPipeline(b, Workloads["W0"], Data(b)) }
func BenchmarkNativeW1(b *testing.B) { runPipeline(b, Workloads["W1"], Data(b)) }
func BenchmarkNativeW2(b *testing.B) { runPipeline(b, Workloads["W2"], Data(b)) }
func BenchmarkNativeW3(b *testing.B) { runPipeline(b, Workloads["W3"], Data(b)) }

// The engine's own costs, on W0's data with trivial stages.

// BenchmarkCodecLines splits the data into line records (no pipeline).
func BenchmarkCodecLines(b *testing.B) { runPipeline(b, `input: {codec: lines}`, Data(b)) }

// BenchmarkCodecNDJSON adds JSON validation of every record.
func BenchmarkCodecNDJSON(b *testing.B) { runPipeline(b, `input: {codec: ndjson}`, Data(b)) }

const identity = `stages:
  - {name: id, type: native, use: trim, timeout: %s, workers: %d}`

// BenchmarkBatchHandoff: one stage that does almost nothing, no timeout:
// the cost of a stage hop (queue, goroutine, counters).
func BenchmarkBatchHandoff(b *testing.B) { runPipeline(b, sprintf(identity, "0", 1), Data(b)) }

// BenchmarkTimeoutDecorator: the same with the per-record timeout armed.
func BenchmarkTimeoutDecorator(b *testing.B) { runPipeline(b, sprintf(identity, "5s", 1), Data(b)) }

// BenchmarkWorkersReorder: the same stage with 2 workers (dispatch and
// in-order collection).
func BenchmarkWorkersReorder(b *testing.B) { runPipeline(b, sprintf(identity, "5s", 2), Data(b)) }
