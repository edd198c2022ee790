package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// httpBody is a body of n NDJSON records of about 120 bytes.
func httpBody(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"ts":"2026-12-03T00:00:00Z","level":"info","service":"api","msg":"request served","latency_ms":%d,"id":%d}`+"\n", i%500, i)
	}
	return b.Bytes()
}

// BenchmarkHTTPServerInput: 16 Go clients POST bodies of 100 NDJSON records
// to an http_server input whose pipeline writes to io.Discard; every body
// is answered once its records are written. One op is one body.
func BenchmarkHTTPServerInput(b *testing.B) {
	const clients, perBody = 16, 100
	addr := testkit.FreeAddr(b)
	spec, err := engine.Parse([]byte("input: {type: http_server, address: "+addr+", codec: ndjson, queue: 64}\n"), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, strings.NewReader(""), io.Discard) }()
	defer func() { cancel(); <-done }()
	testkit.WaitListening(b, addr, done)
	body := httpBody(perBody)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	url := "http://" + addr + "/"
	var next, too atomic.Int64
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				for {
					resp, err := client.Post(url, "application/x-ndjson", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests {
						too.Add(1)
						continue
					}
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N*perBody)/el.Seconds(), "records/s")
	b.ReportMetric(float64(too.Load())/float64(b.N), "429/op")
}

// BenchmarkHTTPOutput: 100000 NDJSON records from stdin to an http output
// posting to a local sink that reads and discards each body. One op is the
// whole run.
func BenchmarkHTTPOutput(b *testing.B) {
	for _, compression := range []string{"none", "gzip"} {
		b.Run(compression, func(b *testing.B) {
			var received atomic.Int64
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				received.Add(n)
			}))
			defer sink.Close()
			spec, err := engine.Parse([]byte(`
input: {codec: ndjson}
output: {type: http, url: `+sink.URL+`, compression: `+compression+`}
`), "bench.yaml")
			if err != nil {
				b.Fatal(err)
			}
			in := httpBody(100_000)
			runSpecRun(b, spec, in)
			if received.Load() == 0 {
				b.Fatal("the sink received nothing")
			}
		})
	}
}

// runSpecRun is runSpec with the configured output (Run instead of
// RunReader).
func runSpecRun(b *testing.B, spec *engine.Spec, in []byte) {
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
		if err := p.Run(context.Background(), bytes.NewReader(in), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	recs := float64(bytes.Count(in, []byte{'\n'})) * float64(b.N)
	b.ReportMetric(recs/time.Since(start).Seconds(), "records/s")
}
