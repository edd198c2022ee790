package rpc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// event is one stage event as an audit log hears it.
type event struct {
	name  string
	attrs map[string]any
}

// eventLog collects stage events.
type eventLog struct {
	mu sync.Mutex
	ev []event
}

func (l *eventLog) hook() engine.Option {
	return engine.WithEvents(func(stage, kind, name string, attrs map[string]any) {
		l.mu.Lock()
		l.ev = append(l.ev, event{name, attrs})
		l.mu.Unlock()
	})
}

func (l *eventLog) named(name string) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event
	for _, e := range l.ev {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

// TestMaxRestartsBoundsAStorm: a plugin that crashes on every record is
// restarted exactly max_restarts times within restart_window, then the
// pipeline stops (a runtime failure, whatever on_error says).
func TestMaxRestartsBoundsAStorm(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		sp := casesSpec("boom")
		sp.OnError = engine.OnErrorDrop
		sp.Extra = engine.ConfigOf(map[string]any{"args": []string{"boom"}, "max_restarts": n, "restart_window": "1h"})
		in := make([]string, 40)
		for i := range in {
			in[i] = "boom"
		}
		r := runStage(t, sp, in)
		if !errors.Is(r.err, engine.ErrFatal) {
			t.Fatalf("max_restarts %d: err = %v, want a fatal error", n, r.err)
		}
		if r.stats.Restarts != int64(n) || strings.Count(r.events, "plugin_restarted") != n {
			t.Errorf("max_restarts %d: %d restarts, events %q; want exactly %d", n, r.stats.Restarts, r.events, n)
		}
		for _, w := range []string{"was not restarted again", "restart_window: 1h0m0s", "about to crash on boom"} {
			if !strings.Contains(r.err.Error(), w) {
				t.Errorf("max_restarts %d: err = %q, want it to contain %q", n, r.err, w)
			}
		}
	}
}

// TestRestartWindowForgets: restarts older than restart_window do not
// count, so a plugin that crashes now and then keeps running.
func TestRestartWindowForgets(t *testing.T) {
	sp := casesSpec("boom")
	sp.OnError = engine.OnErrorDrop
	// Each poison record costs up to four restarts (the batch, its re-send,
	// the record alone, its re-send); a window of 1ns forgets them all.
	sp.Extra = engine.ConfigOf(map[string]any{"args": []string{"boom"}, "max_restarts": 1, "restart_window": "1ns"})
	in := numbered(30)
	in[3], in[12], in[25] = "boom", "boom", "boom"
	r := runStage(t, sp, in)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.out) != 27 || r.stats.Errors != 3 || r.stats.Restarts < 3 {
		t.Errorf("out %d records, stats %+v; want 27 out, 3 errors, restarts for each", len(r.out), r.stats)
	}
}

// TestPluginStdoutLogged: what a plugin prints on stdout after the
// handshake reaches the log, tagged with the stage and the stream.
func TestPluginStdoutLogged(t *testing.T) {
	sp := engine.StageSpec{Name: "p", Type: "rpc", Path: plugin("supervise"), Extra: engine.ConfigOf(map[string]any{"args": []string{"stdout"}})}
	r := runStage(t, sp, []string{"r1", "r2"})
	if r.err != nil || !equal(r.out, []string{"r1", "r2"}) {
		t.Fatalf("out %q, err %v", r.out, r.err)
	}
	for _, w := range []string{`msg="stdout line r1" stage=p`, `msg="stdout line r2"`, "stream=stdout"} {
		if !strings.Contains(r.log, w) {
			t.Errorf("log lacks %q:\n%s", w, r.log)
		}
	}
}

// TestStartErrorHasLastStderr: a plugin that closes stdout and then writes
// its last words to stderr before exiting has those words in the start-up
// error, every time.
func TestStartErrorHasLastStderr(t *testing.T) {
	for i := range 3 {
		file := writePipeline(t, "    path: "+plugin("supervise")+"\n    args: [dying]")
		enginetest.CheckLoadError(t, file, "5:11", "first words", "last words: license file missing")
		_ = i
	}
}

// copyPlugin copies the cases plugin into a temporary directory and
// returns its path and hex sha256.
func copyPlugin(t *testing.T) (path, sum string, data []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "cases")
	b, err := os.ReadFile(plugin("cases"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return path, hex.EncodeToString(s[:]), b
}

// swap replaces the binary at path (by rename: a running binary cannot be
// written) and returns the new sha256.
func swap(t *testing.T, path string, data []byte) string {
	t.Helper()
	data = append(append([]byte(nil), data...), "swapped"...)
	if err := os.WriteFile(path+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestPinRefusalIsAudited: a binary refused for its sha256 (the stage's
// sha256: pin, or the hash a plugin directory resolved) writes a
// plugin_refused event with both hashes, at the first start and at a
// restart after the binary was replaced mid-run.
func TestPinRefusalIsAudited(t *testing.T) {
	for _, how := range []string{"sha256", "resolved"} {
		t.Run(how, func(t *testing.T) {
			path, sum, data := copyPlugin(t)
			build := func(ev *eventLog) *engine.Pipeline {
				t.Helper()
				yaml := "stages:\n  - {name: p, type: rpc, path: " + path + ", sha256: " + sum + ", args: [boom], on_error: drop}\n"
				opts := []engine.Option{ev.hook()}
				if how == "resolved" {
					yaml = "stages:\n  - {name: p, use: cases, args: [boom], on_error: drop}\n"
					opts = append(opts, engine.WithResolver(resolver{path, sum}))
				}
				spec, err := engine.Parse([]byte(yaml), "p.yaml")
				if err != nil {
					t.Fatal(err)
				}
				p, err := engine.Build(spec, opts...)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			// Replaced mid-run: refused at the restart after the crash.
			var ev eventLog
			p := build(&ev)
			defer p.Close()
			if err := p.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			swapped := swap(t, path, data)
			var out strings.Builder
			err := p.RunReader(context.Background(), strings.NewReader("a\nboom\nb\n"), &out)
			if err == nil || !strings.Contains(err.Error(), "does not match the pinned sha256") || !errors.Is(err, engine.ErrFatal) {
				t.Errorf("restart of a replaced binary: %v; want a fatal refusal", err)
			}
			checkRefused(t, ev.named("plugin_refused"), path, sum, swapped)
			if r := ev.named("plugin_restarted"); len(r) != 0 {
				t.Errorf("a refused binary was restarted: %v", r)
			}

			// Replaced before the start: refused at load.
			var ev2 eventLog
			q := build(&ev2)
			defer q.Close()
			if err := q.Load(context.Background()); err == nil {
				t.Fatal("load of a replaced binary succeeded")
			}
			checkRefused(t, ev2.named("plugin_refused"), path, sum, swapped)
		})
	}
}

func checkRefused(t *testing.T, refused []event, path, want, got string) {
	t.Helper()
	if len(refused) != 1 {
		t.Fatalf("plugin_refused events: %v, want one", refused)
	}
	a := refused[0].attrs
	if a["path"] != path || a["sha256_expected"] != want || a["sha256_actual"] != got || a["reason"] == "" {
		t.Errorf("plugin_refused attrs = %v; want path %s, expected %s, actual %s and a reason", a, path, want, got)
	}
}

// TestEventsCarryTheRunningHash: without a pin, a binary replaced mid-run
// is what a restart runs, and the events say so (the new sha256).
func TestEventsCarryTheRunningHash(t *testing.T) {
	path, sum, data := copyPlugin(t)
	var ev eventLog
	spec := &engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{{Name: "p", Type: "rpc", Path: path,
		OnError: engine.OnErrorDrop, Extra: engine.ConfigOf(map[string]any{"args": []string{"boom"}})}}}
	p, err := engine.Build(spec, ev.hook(), engine.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	swapped := swap(t, path, data)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.Process(ctx, engine.NewRecord([]byte("a")), engine.NewRecord([]byte("boom")), engine.NewRecord([]byte("b"))); err != nil {
		t.Fatal(err)
	}
	started := ev.named("plugin_started")
	if len(started) < 2 || started[0].attrs["sha256"] != sum {
		t.Fatalf("plugin_started events %v; want the first with %s", started, sum)
	}
	for _, e := range started[1:] {
		if e.attrs["sha256"] != swapped {
			t.Errorf("plugin_started after the swap has sha256 %v, want the new %s", e.attrs["sha256"], swapped)
		}
	}
	for _, e := range ev.named("plugin_restarted") {
		if e.attrs["sha256"] != swapped {
			t.Errorf("plugin_restarted has sha256 %v, want the new %s", e.attrs["sha256"], swapped)
		}
	}
}

// TestPluginInheritsNothing: the plugin gets neither the host's stdin (the
// records) nor its environment, only PATH, the handshake and env:.
func TestPluginInheritsNothing(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("a record on the host's stdin\n")
	w.Close()
	saved := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = saved; r.Close() }()
	t.Setenv("PIPE_TEST_HOST_SECRET", "hunter2")
	sp := engine.StageSpec{Name: "p", Type: "rpc", Path: plugin("supervise"), Extra: engine.ConfigOf(map[string]any{"args": []string{"inherit"}})}
	res := runStage(t, sp, []string{"x"})
	if res.err != nil || !equal(res.out, []string{`stdin="" env=""`}) {
		t.Errorf("plugin saw %q (err %v); want nothing of the host's stdin and environment", res.out, res.err)
	}
}
