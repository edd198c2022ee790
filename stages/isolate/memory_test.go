package isolate_test

import (
	"bytes"
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
	"github.com/pipe-dev/pipe/stages/isolate"
)

// events records the stage events of a run.
type events struct {
	mu  sync.Mutex
	all []event
}

type event struct {
	name  string
	attrs map[string]any
}

func (e *events) option() engine.Option {
	return engine.WithEvents(func(_, _, name string, attrs map[string]any) {
		e.mu.Lock()
		e.all = append(e.all, event{name, attrs})
		e.mu.Unlock()
	})
}

func (e *events) named(name string) []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []event
	for _, ev := range e.all {
		if ev.name == name {
			out = append(out, ev)
		}
	}
	return out
}

// bombs are scripts that fail records {"bomb":true} by running out of
// memory and pass the others with ok set; each grows memory its own way.
// (A single huge array is refused by js's fill bound before any memory is
// taken: a record error, no dead child.)
var bombs = []struct {
	name, kind, code string
	refused          bool
}{
	{"lua doubling string", "lua", `if rec.bomb then local s = "xxxxxxxxxxxxxxxx" while true do s = s .. s end end rec.ok = true return rec`, false},
	{"lua growing table", "lua", `if rec.bomb then local t = {} local i = 0 while true do i = i + 1 t[i] = {i, tostring(i)} end end rec.ok = true return rec`, false},
	{"lua emit loop", "lua", `if rec.bomb then local pad = string.rep("y", 4096) while true do emit({pad = pad}) end end rec.ok = true return rec`, false},
	{"js doubling string", "js", `if (rec.bomb) { let s = "xxxxxxxxxxxxxxxx"; for (;;) s = s + s } rec.ok = true; return rec`, false},
	{"js huge array fill", "js", `if (rec.bomb) { new Array(2**32-1).fill(0) } rec.ok = true; return rec`, true},
	{"js many array fills", "js", `if (rec.bomb) { const keep = []; for (;;) keep.push(new Array(2**20).fill(1)) } rec.ok = true; return rec`, false},
	{"js growing array", "js", `if (rec.bomb) { const a = []; for (;;) a.push({x: a.length, s: "s" + a.length}) } rec.ok = true; return rec`, false},
	{"js emit loop", "js", `if (rec.bomb) { const pad = "y".repeat(4096); for (;;) emit({pad}) } rec.ok = true; return rec`, false},
}

// input makes n records, every third a bomb (records 2, 5, 8, ...).
func input(n int) (recs []*engine.Record, bombs int) {
	for i := 1; i <= n; i++ {
		if i%3 == 2 {
			recs = append(recs, engine.NewRecord([]byte(`{"bomb":true}`)))
			bombs++
			continue
		}
		recs = append(recs, engine.NewRecord([]byte(fmt.Sprintf(`{"n":%d}`, i))))
	}
	return recs, bombs
}

func build(t *testing.T, sp engine.StageSpec, opts ...engine.Option) *engine.Pipeline {
	t.Helper()
	spec := &engine.Spec{Input: engine.InputSpec{Codec: engine.CodecNDJSON}, Stages: []engine.StageSpec{sp}}
	if sp.OnError == engine.OnErrorDeadLetter {
		spec.DeadLetter = &engine.DeadLetterSpec{Path: filepath.Join(t.TempDir(), "dl.ndjson")}
	}
	p, err := engine.Build(spec, append(opts, engine.WithLogger(slog.New(slog.DiscardHandler)))...)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// bombStage is an isolated stage with a 64MiB limit and a timeout long
// enough that only memory stops a bomb, also on a loaded machine.
func bombStage(kind, code, onError string) engine.StageSpec {
	timeout := 2 * time.Minute
	return engine.StageSpec{Name: "s", Type: kind, Code: code, OnError: onError, Isolation: engine.IsolationProcess,
		Timeout: &timeout, Extra: engine.ConfigOf(map[string]any{"memory_limit": "64MiB"})}
}

// TestMemoryBombFailsOnlyItsRecord: a script that runs out of memory fails
// its record under on_error (drop here), its child is replaced, the
// records after it pass, pipe lives on, and every record is accounted
// for: in = passed + dropped + errors.
func TestMemoryBombFailsOnlyItsRecord(t *testing.T) {
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			testBombs(t, b.kind, b.code, 5, b.refused)
		})
	}
}

// TestBombsBeyondMaxRestarts: seven bombs are more than max_restarts (5):
// restarts after a record's out-of-memory death are not counted against
// it, so the run goes on.
func TestBombsBeyondMaxRestarts(t *testing.T) {
	testBombs(t, "js", bombs[3].code, 20, false)
}

// testBombs runs n records, every third a bomb, through the stage.
func testBombs(t *testing.T, kind, code string, n int, refused bool) {
	{
		{
			var ev events
			p := build(t, bombStage(kind, code, engine.OnErrorDrop), ev.option())
			recs, nb := input(n)
			// A bound against a hang only: under -race at load 25 on two
			// cores the js emit loop alone took over 5 minutes to reach its
			// limit (seen 2026-12-03).
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			out, err := p.Process(ctx, recs...)
			if err != nil {
				t.Fatalf("run: %v; want the bombs dropped and the run to go on", err)
			}
			if len(out) != n-nb {
				t.Fatalf("%d records out, want %d", len(out), n-nb)
			}
			for _, o := range out {
				if !bytes.Contains(o.Data, []byte(`"ok":true`)) || bytes.Contains(o.Data, []byte("bomb")) {
					t.Errorf("output %s: want a transformed record that is not a bomb", o.Data)
				}
			}
			st := stats(t, p)
			if st.Errors != int64(nb) || st.In != int64(n) || st.In != st.Passed+st.Dropped+st.Errors {
				t.Errorf("stats in %d passed %d dropped %d errors %d; want in %d = passed + dropped + %d errors", st.In, st.Passed, st.Dropped, st.Errors, n, nb)
			}
			if r := len(ev.named("plugin_restarted")); r < nb && !refused {
				t.Errorf("%d restarts, want at least one per bomb (%d)", r, nb)
			}
		}
	}
}

// TestMemoryBombUnderFail: under on_error: fail the bomb stops the run
// with an error that errors.Is ErrMemoryLimit and names the record.
func TestMemoryBombUnderFail(t *testing.T) {
	p := build(t, bombStage("lua", bombs[0].code, engine.OnErrorFail))
	recs, _ := input(3)
	_, err := p.Process(context.Background(), recs...)
	if !errors.Is(err, isolate.ErrMemoryLimit) || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("err = %v; want memory_limit exceeded at record 2", err)
	}
}

// TestChildKilledByOSLimit: what stops a bomb is the OS: the child's
// RLIMIT_DATA is memory_limit over what it mapped when the stage opened,
// the process that ran the bomb is gone afterwards, and its replacement is
// another process with the same limit.
func TestChildKilledByOSLimit(t *testing.T) {
	var ev events
	p := build(t, bombStage("js", bombs[3].code, engine.OnErrorDrop), ev.option())
	if err := p.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	started := ev.named("plugin_started")
	if len(started) != 1 {
		t.Fatalf("%d plugin_started events after Load, want 1", len(started))
	}
	pid := started[0].attrs["pid"].(int)
	limit, data := dataLimit(t, pid)
	if limit < 64<<20 || limit > data+64<<20+8<<20 {
		t.Fatalf("child %d: RLIMIT_DATA %d with VmData %d; want about VmData at open + 64MiB", pid, limit, data)
	}
	recs, nb := input(3)
	out, err := p.Process(context.Background(), recs...)
	if err != nil || len(out) != 3-nb {
		t.Fatalf("run: %d out, err %v", len(out), err)
	}
	crashed := ev.named("plugin_crashed")
	if len(crashed) == 0 || !strings.Contains(fmt.Sprint(crashed[0].attrs["reason"]), "memory_limit exceeded") {
		t.Fatalf("crash events %v; want one for running out of memory_limit", crashed)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d still exists after its bomb (kill 0: %v)", pid, err)
	}
	restarted := ev.named("plugin_restarted")
	if len(restarted) == 0 {
		t.Fatal("no restart after the bomb")
	}
	if np := restarted[len(restarted)-1].attrs["pid"].(int); np == pid {
		t.Errorf("the replacement has the bomb's pid %d", pid)
	}
}

// dataLimit reads a process's soft RLIMIT_DATA and VmData.
func dataLimit(t *testing.T, pid int) (limit, data int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max data size") {
			f := strings.Fields(strings.TrimPrefix(l, "Max data size"))
			limit, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmData:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			data = kb << 10
		}
	}
	return limit, data
}

func stats(t *testing.T, p *engine.Pipeline) engine.StageStats {
	t.Helper()
	for _, st := range p.Stats() {
		if st.Name == "s" {
			return st
		}
	}
	t.Fatal("no stats of stage s")
	return engine.StageStats{}
}

func TestOutOfMemoryLines(t *testing.T) {
	for line, want := range map[string]bool{
		"fatal error: out of memory allocating heap arena metadata":                                                  true,
		"runtime: out of memory: cannot allocate 67108864-byte block (1 in use)":                                     true,
		"fatal error: runtime: cannot allocate memory":                                                               true,
		"runtime/cgo: pthread_create failed: Resource temporarily unavailable":                                       true,
		"==22582==ERROR: ThreadSanitizer failed to allocate 0x8000000 (134217728) bytes at address 2180 (errno: 12)": true,
		"fatal error: concurrent map writes":                                                                         false,
		"the script says: out of memory":                                                                             false,
		"panic: boom":                                                                                                false,
	} {
		if got := isolate.OutOfMemory(line); got != want {
			t.Errorf("OutOfMemory(%q) = %v, want %v", line, got, want)
		}
	}
}
