package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// testGuest returns a module built by the package's TestMain.
func testGuest(tb testing.TB, name string) string {
	dir := os.Getenv("WASM_TEST_GUEST_DIR")
	p := filepath.Join(dir, name+".wasm")
	if _, err := os.Stat(p); dir == "" || err != nil {
		tb.Skipf("guest %s not built (wat2wasm missing?)", name)
	}
	return p
}

func loadStage(tb testing.TB, path string, closeOnDone bool) *stage {
	if closeOnDone {
		return loadStageMode(tb, path, "flag")
	}
	return loadStageMode(tb, path, "none")
}

// loadStageMode loads a stage whose calls are interrupted by mode: "flag"
// (the rewritten module), "close_on_done" (wazero's check) or "none".
func loadStageMode(tb testing.TB, path, mode string) *stage {
	tb.Helper()
	st, err := build(&engine.StageSpec{Name: "bench", Type: "wasm", Path: path}, &engine.BuildEnv{Timeout: engine.DefaultTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	s := st.(*stage)
	s.closeOnDone = mode != "none"
	s.noRewrite = mode != "flag" // "none": the module as it is, no stack bound either
	if err := s.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkInstantiate is the cost of one worker's instance: instantiation,
// _initialize (the Go runtime's start for a Go guest), the version check
// and pipe_init.
func BenchmarkInstantiate(b *testing.B) {
	for _, g := range []string{"upper", "w1", "wat-upper"} {
		b.Run(g, func(b *testing.B) {
			s := loadStage(b, testGuest(b, g), true)
			ctx := context.Background()
			for b.Loop() {
				m, err := s.instantiate(ctx)
				if err != nil {
					b.Fatal(err)
				}
				m.close()
			}
		})
	}
}

// BenchmarkLoad is Load with a warm compilation cache (what a restarted
// pipe pays per stage): read, compile from cache, check, first instance.
func BenchmarkLoad(b *testing.B) {
	for _, g := range []string{"w1", "wat-upper"} {
		b.Run(g, func(b *testing.B) {
			path := testGuest(b, g)
			loadStage(b, path, true) // fills the cache
			for b.Loop() {
				st, _ := build(&engine.StageSpec{Name: "bench", Type: "wasm", Path: path}, &engine.BuildEnv{Timeout: engine.DefaultTimeout})
				if err := st.(*stage).Load(context.Background()); err != nil {
					b.Fatal(err)
				}
				st.(*stage).Close()
			}
		})
	}
}

// BenchmarkCloseOnContextDone compares batches of 1024 W2 lines through the
// Go and the WAT W2 guests interrupted by the rewrite's flag (pipe's
// setting for a stage with a timeout), by wazero's close-on-context-done
// (an exit to Go at every function entry and loop back-edge; the fallback)
// and not interruptible (timeout: 0).
func BenchmarkCloseOnContextDone(b *testing.B) {
	line := []byte(`{"ts":"2024-05-01T12:00:00Z","level":"info","service":"api","msg":"request served in 12ms","user":"u123","tags":["a","b"]}`)
	recs := make([]*engine.Record, 1024)
	for _, g := range []string{"w2", "wat-upper"} {
		for _, mode := range []string{"flag", "close_on_done", "none"} {
			b.Run(fmt.Sprintf("%s/%s", g, mode), func(b *testing.B) {
				s := loadStageMode(b, testGuest(b, g), mode)
				if s.interruptible != (mode == "flag") {
					b.Fatalf("mode %s: interruptible = %v", mode, s.interruptible)
				}
				in, err := s.instance()
				if err != nil {
					b.Fatal(err)
				}
				defer in.Close()
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				var out engine.BatchResult
				b.SetBytes(int64(len(line) * len(recs)))
				start := time.Now()
				for b.Loop() {
					for i := range recs {
						recs[i] = engine.NewRecord(line)
					}
					if err := in.TransformBatch(ctx, recs, &out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(recs))/time.Since(start).Seconds(), "records/s")
			})
		}
	}
}

// TestStartTimeout: a guest whose _initialize never returns is stopped, and
// Load reports it as a configuration error.
func TestStartTimeout(t *testing.T) {
	path := testGuest(t, "wat-spininit")
	old := startTimeout
	startTimeout = 300 * time.Millisecond
	defer func() { startTimeout = old }()
	st, err := build(&engine.StageSpec{Name: "spin", Type: "wasm", Path: path}, &engine.BuildEnv{Timeout: engine.DefaultTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*stage).Close()
	start := time.Now()
	err = st.(*stage).Load(context.Background())
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "did not start within 300ms") {
		t.Errorf("err = %v, want a config error saying the module did not start", err)
	}
	if el := time.Since(start); el > time.Minute { // a hang, not a slow machine
		t.Errorf("Load took %v", el)
	}
}

// A stage with a timeout runs the rewritten module (so a spinning guest is
// stopped); timeout: 0 runs the module as it is, and both run it.
func TestCloseOnDoneFollowsTimeout(t *testing.T) {
	path := testGuest(t, "wat-upper")
	for _, c := range []struct {
		timeout time.Duration
		want    bool
	}{{engine.DefaultTimeout, true}, {time.Millisecond, true}, {0, false}} {
		st, err := build(&engine.StageSpec{Name: "up", Type: "wasm", Path: path}, &engine.BuildEnv{Timeout: c.timeout})
		if err != nil {
			t.Fatal(err)
		}
		s := st.(*stage)
		if s.closeOnDone != c.want {
			t.Errorf("timeout %v: close-on-context-done %v, want %v", c.timeout, s.closeOnDone, c.want)
		}
		if err := s.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s.interruptible != c.want {
			t.Errorf("timeout %v: rewritten %v, want %v", c.timeout, s.interruptible, c.want)
		}
		in, err := s.instance()
		if err != nil {
			t.Fatal(err)
		}
		var out engine.BatchResult
		if err := in.TransformBatch(context.Background(), []*engine.Record{engine.NewRecord([]byte("abc"))}, &out); err != nil {
			t.Errorf("timeout %v: %v", c.timeout, err)
		}
		in.Close()
		s.Close()
	}
}
