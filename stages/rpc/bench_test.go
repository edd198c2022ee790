package rpc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

var (
	dataOnce sync.Map // n -> []byte
)

// benchData generates the shared benchmark data (shared/bench/gen).
func benchData(tb testing.TB, n int) []byte {
	tb.Helper()
	if d, ok := dataOnce.Load(n); ok {
		return d.([]byte)
	}
	gen := "/work/shared/bench/gen/main.go"
	if _, err := os.Stat(gen); err != nil {
		tb.Skipf("benchmark data generator %s not available", gen)
	}
	out, err := exec.Command("go", "run", gen, "-n", strconv.Itoa(n), "-seed", "42").Output()
	if err != nil {
		tb.Fatalf("generating data: %v", err)
	}
	dataOnce.Store(n, out)
	return out
}

// loadWorkload loads testdata/bench/NAME.yaml with the test's plugins.
func loadWorkload(tb testing.TB, name string, workers int) *engine.Pipeline {
	tb.Helper()
	env := map[string]string{"RPC_PLUGIN_DIR": bin, "WORKERS": strconv.Itoa(workers)}
	p, err := engine.Load("testdata/bench/"+name+".yaml", engine.WithEnv(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

func runWorkload(tb testing.TB, p *engine.Pipeline, in []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), bytes.NewReader(in), &out); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func jsonLines(tb testing.TB, data []byte) []map[string]any {
	tb.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			tb.Fatalf("not JSON: %q", sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// TestWorkloads checks W1, W2, W3 against results computed here with
// encoding/json on 10000 generated records.
func TestWorkloads(t *testing.T) {
	in := benchData(t, 10000)
	recs := jsonLines(t, in)

	var w1, w3 []map[string]any
	for _, r := range recs {
		if r["level"] == "error" {
			c := maps(r)
			c["msg"] = strings.ToUpper(c["msg"].(string))
			c["processed"] = true
			w1 = append(w1, c)
		}
		tags, _ := r["tags"].([]any)
		for _, tag := range tags {
			c := maps(r)
			delete(c, "tags")
			c["tag"] = tag
			w3 = append(w3, c)
		}
	}
	for _, workers := range []int{1, 2} {
		t.Run("W1/workers="+strconv.Itoa(workers), func(t *testing.T) {
			got := jsonLines(t, runWorkload(t, loadWorkload(t, "w1", workers), in))
			if len(got) != len(w1) || !reflect.DeepEqual(got, w1) {
				t.Fatalf("W1: %d records, want %d (or contents differ)", len(got), len(w1))
			}
		})
		t.Run("W2/workers="+strconv.Itoa(workers), func(t *testing.T) {
			got := runWorkload(t, loadWorkload(t, "w2", workers), in)
			if !bytes.Equal(got, bytes.ToUpper(in)) {
				t.Fatal("W2 output is not the upper-cased input")
			}
		})
		t.Run("W3/workers="+strconv.Itoa(workers), func(t *testing.T) {
			got := jsonLines(t, runWorkload(t, loadWorkload(t, "w3", workers), in))
			if len(got) != len(w3) || !reflect.DeepEqual(got, w3) {
				t.Fatalf("W3: %d records, want %d (or contents differ)", len(got), len(w3))
			}
		})
	}
}

func maps(m map[string]any) map[string]any {
	c := make(map[string]any, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func benchWorkload(b *testing.B, name string, workers int) {
	in := benchData(b, 100000)
	p := loadWorkload(b, name, workers)
	if err := p.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := p.RunReader(context.Background(), bytes.NewReader(in), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	recs := float64(bytes.Count(in, []byte{'\n'})) * float64(b.N)
	b.ReportMetric(recs/time.Since(start).Seconds(), "records/s")
}

func BenchmarkW1(b *testing.B) {
	b.Run("workers=1", func(b *testing.B) { benchWorkload(b, "w1", 1) })
	b.Run("workers=2", func(b *testing.B) { benchWorkload(b, "w1", 2) })
}

func BenchmarkW2(b *testing.B) {
	b.Run("workers=1", func(b *testing.B) { benchWorkload(b, "w2", 1) })
	b.Run("workers=2", func(b *testing.B) { benchWorkload(b, "w2", 2) })
}

func BenchmarkW3(b *testing.B) {
	b.Run("workers=1", func(b *testing.B) { benchWorkload(b, "w3", 1) })
	b.Run("workers=2", func(b *testing.B) { benchWorkload(b, "w3", 2) })
}

// BenchmarkRestart measures one restart of a plugin: start the process,
// handshake, health check, Open; then kill it.
func BenchmarkRestart(b *testing.B) {
	spec := &engine.Spec{Stages: []engine.StageSpec{casesSpec("identity")}}
	for b.Loop() {
		p, err := engine.Build(spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}
