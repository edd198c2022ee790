// Package gendata writes the deterministic NDJSON log records of the shared
// benchmark generator (shared/bench/gen), so that `pipe bench --generate N`
// measures the same data as the benchmark scripts. A test checks that both
// give the same bytes.
package gendata

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

var (
	levels   = []string{"debug", "info", "info", "info", "info", "warn", "error"}
	services = []string{"api", "auth", "billing", "search", "worker", "gateway"}
	methods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths    = []string{"/v1/users", "/v1/orders", "/v1/search", "/v1/login", "/v2/items", "/health"}
	words    = []string{"request", "completed", "failed", "timeout", "upstream", "cache", "miss",
		"hit", "retry", "user", "order", "payment", "declined", "slow", "query", "connection",
		"reset", "token", "expired", "quota"}
	tags     = []string{"prod", "canary", "eu", "us", "mobile", "web", "batch", "beta"}
	statuses = []int{200, 200, 200, 201, 204, 400, 404, 500, 503}
)

// Write writes n records generated from seed to w.
func Write(w io.Writer, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 512)
	for i := 0; i < n; i++ {
		buf = buf[:0]
		ts := t0.Add(time.Duration(i)*time.Millisecond + time.Duration(r.IntN(1000))*time.Microsecond)
		buf = append(buf, `{"ts":"`...)
		buf = ts.AppendFormat(buf, "2006-01-02T15:04:05.000000Z")
		buf = append(buf, `","level":"`...)
		buf = append(buf, levels[r.IntN(len(levels))]...)
		buf = append(buf, `","service":"`...)
		buf = append(buf, services[r.IntN(len(services))]...)
		buf = append(buf, `","method":"`...)
		buf = append(buf, methods[r.IntN(len(methods))]...)
		buf = append(buf, `","path":"`...)
		buf = append(buf, paths[r.IntN(len(paths))]...)
		buf = append(buf, `","status":`...)
		buf = strconv.AppendInt(buf, int64(statuses[r.IntN(9)]), 10)
		buf = append(buf, `,"latency_ms":`...)
		buf = strconv.AppendFloat(buf, float64(r.IntN(500000))/1000, 'f', 3, 64)
		buf = append(buf, `,"user":"u`...)
		buf = strconv.AppendInt(buf, int64(r.IntN(100000)), 10)
		buf = append(buf, `","msg":"`...)
		for j, k := 0, 3+r.IntN(6); j < k; j++ {
			if j > 0 {
				buf = append(buf, ' ')
			}
			buf = append(buf, words[r.IntN(len(words))]...)
		}
		buf = append(buf, `","tags":[`...)
		for j, k := 0, r.IntN(4); j < k; j++ {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, tags[r.IntN(len(tags))])
		}
		buf = append(buf, "]}\n"...)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
