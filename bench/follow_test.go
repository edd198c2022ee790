package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// followLines is the size of the file-follow benchmark's log.
const followLines = 1_000_000

// lineCounter is an output that cancels the run once it saw n lines (a
// followed file never ends by itself).
type lineCounter struct {
	n      int64
	seen   atomic.Int64
	cancel context.CancelFunc
}

func (c *lineCounter) Write(p []byte) (int, error) {
	if c.seen.Add(int64(bytes.Count(p, []byte{'\n'}))) >= c.n && c.cancel != nil {
		c.cancel()
	}
	return len(p), nil
}

// BenchmarkFileFollow compares reading a log file plainly with following
// it (tail -F) and with checkpoints written after every acknowledged batch
// (checkpoint_interval: 0) or at most once a second (the default). The
// goal (issue 18): checkpointing costs under 10% of plain reading.
func BenchmarkFileFollow(b *testing.B) {
	dir := b.TempDir()
	var data bytes.Buffer
	for i := range followLines {
		fmt.Fprintf(&data, `{"ts":"2026-12-03T00:00:%02d","level":"info","msg":"request %d served","latency_ms":%d}`+"\n", i%60, i, i%997)
	}
	log := filepath.Join(dir, "app.log")
	if err := os.WriteFile(log, data.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, input string }{
		{"plain", "{type: file, path: app.log}"},
		{"checkpoint-every-batch", "{type: file, path: app.log, checkpoint: ck.json, checkpoint_interval: 0s}"},
		{"follow", "{type: file, path: app.log, follow: true, poll_interval: 1ms}"},
		{"follow-checkpoint-1s", "{type: file, path: app.log, follow: true, poll_interval: 1ms, checkpoint: ck.json}"},
		{"follow-checkpoint-every-batch", "{type: file, path: app.log, follow: true, poll_interval: 1ms, checkpoint: ck.json, checkpoint_interval: 0s}"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			spec, err := engine.Parse([]byte("input: "+bc.input+"\n"), filepath.Join(dir, "p.yaml"))
			if err != nil {
				b.Fatal(err)
			}
			p, err := engine.Build(spec)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(data.Len()))
			cpu0 := cpuTime()
			for b.Loop() {
				os.Remove(filepath.Join(dir, "ck.json"))
				ctx, cancel := context.WithCancel(context.Background())
				out := &lineCounter{n: followLines, cancel: cancel}
				if err := p.Run(ctx, nil, out); err != nil && ctx.Err() == nil {
					b.Fatal(err)
				}
				cancel()
				if got := out.seen.Load(); got != followLines {
					b.Fatalf("%d lines out, want %d", got, followLines)
				}
			}
			b.ReportMetric(float64(followLines)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
