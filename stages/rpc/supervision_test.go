package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

type run struct {
	out    []string
	err    error
	stats  engine.StageStats
	log    string
	events string // stage events in order, space-separated
}

// runStage runs one stage over lines and returns what came out.
func runStage(t *testing.T, sp engine.StageSpec, in []string) run {
	t.Helper()
	var logs enginetest.SyncBuffer
	spec := &engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{sp}}
	if sp.OnError == engine.OnErrorDeadLetter {
		spec.DeadLetter = &engine.DeadLetterSpec{Path: filepath.Join(t.TempDir(), "dl.ndjson")}
	}
	var evMu sync.Mutex
	var events []string
	hook := engine.WithEvents(func(stage, kind, event string, attrs map[string]any) {
		evMu.Lock()
		events = append(events, event)
		evMu.Unlock()
	})
	p, err := engine.Build(spec, hook, engine.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer p.Close()
	recs := make([]*engine.Record, len(in))
	for i, s := range in {
		recs[i] = engine.NewRecord([]byte(s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	out, err := p.Process(ctx, recs...)
	// Close before reading the log: the plugin's stderr is relayed by a
	// goroutine of go-plugin that Close (Kill) waits for, so lines the
	// plugin wrote are in the log only once it returns.
	p.Close()
	evMu.Lock()
	r := run{err: err, log: logs.String(), events: strings.Join(events, " ")}
	evMu.Unlock()
	for _, o := range out {
		r.out = append(r.out, string(o.Data))
	}
	for _, st := range p.Stats() {
		if st.Name == sp.Name {
			r.stats = st
		}
	}
	return r
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%05d", i)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestKillMidStream kills the plugin with SIGKILL while records stream
// through it: the host restarts it and re-sends the in-flight batch, so the
// output is the input, nothing lost, nothing twice.
func TestKillMidStream(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	in := numbered(20000)
	killed := make(chan int, 1)
	go func() {
		defer close(killed)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(pidfile); err == nil {
				pid, _ := strconv.Atoi(string(b))
				time.Sleep(150 * time.Millisecond) // mid-stream
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed <- pid
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r := runStage(t, casesSpec("pid", pidfile), in)
	if r.err != nil {
		t.Fatal(r.err)
	}
	pid, ok := <-killed
	if !ok {
		t.Fatal("the test could not kill the plugin")
	}
	if !equal(r.out, in) {
		t.Fatalf("output has %d records, want the %d input records in order", len(r.out), len(in))
	}
	b, _ := os.ReadFile(pidfile)
	if string(b) == strconv.Itoa(pid) {
		t.Error("the plugin was not restarted (pid file unchanged)")
	}
	if !strings.Contains(r.log, "plugin restarted") {
		t.Errorf("log does not mention the restart:\n%s", r.log)
	}
	// The events the audit log records: start, crash, restart (and start).
	if !strings.HasPrefix(r.events, "plugin_started") || !strings.Contains(r.events, "plugin_crashed plugin_started plugin_restarted") || r.stats.Restarts != 1 {
		t.Errorf("events %q, restarts %d", r.events, r.stats.Restarts)
	}
	if r.stats.In != int64(len(in)) || r.stats.Out != int64(len(in)) {
		t.Errorf("stats = %+v", r.stats)
	}
}

// TestCrashingRecordIsolated: a record that crashes the plugin every time
// takes the on_error policy; its neighbours pass and the plugin is
// restarted for them.
func TestCrashingRecordIsolated(t *testing.T) {
	in := numbered(3000)
	in[10], in[2500] = "boom", "boom"
	want := make([]string, 0, len(in))
	for _, s := range in {
		if s != "boom" {
			want = append(want, s)
		}
	}
	sp := casesSpec("boom")
	sp.OnError = engine.OnErrorDrop
	// Up to four restarts per poison record (max_restarts counts them).
	sp.Extra = engine.ConfigOf(map[string]any{"args": []string{"boom"}, "max_restarts": 20})
	r := runStage(t, sp, in)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !equal(r.out, want) {
		t.Fatalf("output has %d records, want %d", len(r.out), len(want))
	}
	if r.stats.Errors != 2 {
		t.Errorf("stats = %+v, want 2 errors", r.stats)
	}

	sp.OnError = engine.OnErrorFail
	r = runStage(t, sp, in)
	var se *engine.StageError
	if !errors.As(r.err, &se) || se.Record != 11 || errors.Is(r.err, engine.ErrFatal) {
		t.Fatalf("err = %v, want a (non-fatal) failure of record 11", r.err)
	}
	for _, w := range []string{"stage p", "crashed while transforming", "about to crash on boom"} {
		if !strings.Contains(r.err.Error(), w) {
			t.Errorf("err = %q, want it to contain %q", r.err, w)
		}
	}
}

// TestUnresponsivePlugin: a plugin that stops answering (SIGSTOP) without
// a per-record timeout fails its health checks, is killed and restarted,
// and the batch is re-sent.
func TestUnresponsivePlugin(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "stopped")
	sp := casesSpec("stop", marker)
	zero := time.Duration(0)
	sp.Timeout = &zero
	sp.Extra = engine.ConfigOf(map[string]any{"args": []string{"stop", marker}, "health_interval": "200ms"})
	start := time.Now()
	r := runStage(t, sp, []string{"a", "stop", "b"})
	if r.err != nil {
		t.Fatalf("%v (after %v; events: %s)\nlog:\n%s", r.err, time.Since(start), r.events, r.log)
	}
	if !equal(r.out, []string{"a", "stop", "b"}) {
		t.Fatalf("output = %q", r.out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the plugin never stopped itself")
	}
	if !strings.Contains(r.log, "does not answer its health checks") {
		t.Errorf("log does not say why the plugin was restarted (events: %s; stats %+v):\n%s", r.events, r.stats, r.log)
	}
	if el := time.Since(start); el > time.Minute { // a hang, not a slow machine
		t.Errorf("took %v", el)
	}
}

// TestWrongResultCount: a plugin answering fewer results than records is a
// failure of the records, with a message that says so.
func TestWrongResultCount(t *testing.T) {
	sp := casesSpec("wrongcount")
	r := runStage(t, sp, []string{"a", "b", "c"})
	var se *engine.StageError
	if !errors.As(r.err, &se) || se.Record != 1 || !strings.Contains(r.err.Error(), "returned 0 results for a batch of 1 records") {
		t.Fatalf("err = %v, want record 1 failing with a result count mismatch", r.err)
	}
	sp.OnError = engine.OnErrorDrop
	r = runStage(t, sp, []string{"a", "b", "c"})
	if r.err != nil || len(r.out) != 0 || r.stats.Errors != 3 {
		t.Fatalf("err %v, out %q, stats %+v; want 3 record errors", r.err, r.out, r.stats)
	}
}

// TestRestartsExhausted: a plugin that dies and cannot be restarted stops
// the pipeline with a fatal error naming the stage and its last stderr,
// after max_restarts start attempts (not one more).
func TestRestartsExhausted(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	sp := casesSpec("once", marker)
	sp.OnError = engine.OnErrorDrop // fatal errors override the policy
	sp.Extra = engine.ConfigOf(map[string]any{"args": []string{"once", marker}, "max_restarts": 2})
	r := runStage(t, sp, []string{"a", "boom", "b"})
	if !errors.Is(r.err, engine.ErrFatal) {
		t.Fatalf("err = %v, want a fatal error", r.err)
	}
	var ce *engine.ConfigError
	if errors.As(r.err, &ce) {
		t.Fatalf("err = %v is a config error (exit 2), want a runtime failure (exit 1)", r.err)
	}
	for _, w := range []string{"stage p", "2 restarts within", "could not be restarted", "refusing to start again: database is locked"} {
		if !strings.Contains(r.err.Error(), w) {
			t.Errorf("err = %q, want it to contain %q", r.err, w)
		}
	}
	if n := strings.Count(r.log, "plugin restart failed"); n != 2 {
		t.Errorf("%d restart attempts, want max_restarts (2):\n%s", n, r.log)
	}
}

// TestPluginLogs: what a plugin writes to stderr reaches the host log with
// the stage's name.
func TestPluginLogs(t *testing.T) {
	r := runStage(t, casesSpec("log"), []string{"x1", "x2"})
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, w := range []string{`msg="saw x1"`, `msg="saw x2"`, "stage=p"} {
		if !strings.Contains(r.log, w) {
			t.Errorf("log lacks %q:\n%s", w, r.log)
		}
	}
}

// TestLargeRecord: a record larger than gRPC's default 4 MiB message limit
// goes through.
func TestLargeRecord(t *testing.T) {
	big := strings.Repeat("x", 6<<20)
	sp := casesSpec("upper")
	sp.MaxRecordBytes = 8 << 20
	r := runStage(t, sp, []string{"a", big, "b"})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.out) != 3 || r.out[1] != strings.ToUpper(big) || r.out[2] != "B" {
		t.Fatalf("got %d records", len(r.out))
	}
}

// TestRestartAfterTimeoutNotChargedToNextRecord: the plugin killed for a
// record that hung is restarted in that record's call, so a restart slower
// than the timeout does not fail the records after it.
func TestRestartAfterTimeoutNotChargedToNextRecord(t *testing.T) {
	// The restart (3s) is slower than the timeout (1s), which is long
	// enough for a record on a loaded machine.
	sp := casesSpec("slowhang", "3s")
	to := time.Second
	sp.Timeout = &to
	sp.OnError = engine.OnErrorDrop
	r := runStage(t, sp, []string{"a", "hang", "b", "c"})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !equal(r.out, []string{"a", "b", "c"}) || r.stats.Errors != 1 || r.stats.Timeouts != 1 {
		t.Fatalf("out %q, stats %+v; want a b c and the one timeout of the stuck record", r.out, r.stats)
	}
}
