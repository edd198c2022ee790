package wasm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	"github.com/pipe-dev/pipe/internal/cli"
	"github.com/pipe-dev/pipe/stages/wasm"
)

// writePipeline writes a one-stage pipeline whose stage fields are stage
// (YAML block mapping entries, indented four spaces) and returns its path.
func writePipeline(t *testing.T, stage string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	yaml := "input: {codec: lines}\nstages:\n  - name: guest\n    type: wasm\n" + stage + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadModules checks that a module that is not a pipe guest is a
// configuration error at lint time, positioned at the stage's field, and
// that `pipe lint` exits 2 naming what is wrong.
func TestBadModules(t *testing.T) {
	tests := []struct {
		name  string
		stage func(t *testing.T) string
		at    string // line:col of the error
		want  []string
	}{
		{"missing_file", func(t *testing.T) string { return "    path: " + filepath.Join(bin, "nope.wasm") }, "5:11",
			[]string{"no such file"}},
		{"not_wasm", func(t *testing.T) string { return "    path: " + writeFile(t, "x.wasm", "#!/bin/sh\necho hi\n") }, "5:11",
			[]string{"is not a wasm module", `does not start with \0asm`}},
		{"wat_text", func(t *testing.T) string { return "    path: " + writeFile(t, "x.wasm", "(module)\n") }, "5:11",
			[]string{"is not a wasm module", "this is WAT text: build it with wat2wasm"}},
		{"truncated", func(t *testing.T) string {
			b, err := os.ReadFile(guest("upper"))
			if err != nil {
				t.Fatal(err)
			}
			return "    path: " + writeFile(t, "cut.wasm", string(b[:len(b)/2]))
		}, "5:11", []string{"does not compile"}},
		{"missing_exports", func(t *testing.T) string { return "    path: " + wat(t, "missing") }, "5:11",
			[]string{"is not a pipe wasm guest", "does not export pipe_alloc, pipe_transform"}},
		{"abi_version_2", func(t *testing.T) string { return "    path: " + wat(t, "abi2") }, "5:11",
			[]string{"declares ABI version 2 (pipe_abi_version), this host implements version 1"}},
		{"unknown_imports", func(t *testing.T) string { return "    path: " + wat(t, "imports") }, "5:11",
			[]string{"imports env.now, pipe.http_get, which the host does not provide"}},
		{"memory_over_limit", func(t *testing.T) string { return "    path: " + guest("upper") + "\n    memory_limit: 1MiB" }, "6:19",
			[]string{"declares more memory than memory_limit allows", "over limit of 16 pages"}},
		{"memory_max_over_limit", func(t *testing.T) string { return "    path: " + wat(t, "bigmax") + "\n    memory_limit: 16MiB" }, "6:19",
			[]string{"declares more memory than memory_limit allows", "a maximum of 2048 pages (128 MiB) over the limit of 256 pages (16 MiB)"}},
		{"memory_max_over_default", func(t *testing.T) string { return "    path: " + wat(t, "bigmax") }, "3:5",
			[]string{"declares more memory than memory_limit allows", "over the limit of 1024 pages (64 MiB)"}},
		// pipe_init is bounded by the stage's timeout (ABI.md), not by
		// the 10s start bound.
		{"pipe_init_timeout", func(t *testing.T) string { return "    path: " + wat(t, "spinpipeinit") + "\n    timeout: 200ms" }, "5:11",
			[]string{"pipe_init did not return within the stage's timeout (200ms)"}},
		{"config_rejected", func(t *testing.T) string { return "    path: " + guest("cases") + "\n    config: {case: reject}" }, "6:13",
			[]string{"rejected its config: case reject: this config is refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := writePipeline(t, tc.stage(t))
			enginetest.CheckLoadError(t, file, tc.at, tc.want...)
			// pipe lint exits 2 with the message.
			var stdout, stderr bytes.Buffer
			if code := cli.Main([]string{"lint", file}, strings.NewReader(""), &stdout, &stderr); code != 2 {
				t.Errorf("pipe lint exit %d, want 2; stderr: %s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("pipe lint stderr %q does not contain %q", stderr.String(), w)
				}
			}
		})
	}
}

// TestBadStageFields checks the wasm kind's own fields at build time.
func TestBadStageFields(t *testing.T) {
	up := guest("upper")
	tests := []struct{ stage, want string }{
		{"    code: x", "not code:"},
		{"    memory_limit: 1MiB", "needs path: FILE.wasm"},
		{"    path: " + up + "\n    memory_limit: 1KiB", "memory_limit must be at least 64KiB"},
		{"    path: " + up + "\n    memory_limit: 8GiB", "memory_limit must be at most 4GiB"},
		{"    path: " + up + "\n    memory_limit: lots", "invalid size"},
		{"    path: " + up + "\n    allow: [network]", `allow: "network" is not allowed (want clock or random)`},
		{"    path: " + up + "\n    memory_limt: 1MiB", `unknown field "memory_limt"`},
	}
	pos := regexp.MustCompile(`^.*pipeline\.yaml:\d+:\d+: `)
	for _, tc := range tests {
		_, err := engine.Load(writePipeline(t, tc.stage))
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !pos.MatchString(err.Error()) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want a positioned config error containing %q", tc.stage, err, tc.want)
		}
	}
}

// run runs recs through one stage with on_error: drop and returns the
// output and the stage's stats.
func run(t *testing.T, sp engine.StageSpec, recs ...string) ([]string, engine.StageStats) {
	t.Helper()
	sp.OnError = engine.OnErrorDrop
	if sp.Timeout == nil {
		// A batch call gets the per-record timeout as a whole: a short
		// one fails a whole batch of a slow, loaded machine (and replaces
		// the instance). Tests of timeouts set their own.
		to := time.Minute
		sp.Timeout = &to
	}
	p, err := engine.Build(&engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{sp}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in := make([]*engine.Record, len(recs))
	for i, r := range recs {
		in[i] = engine.NewRecord([]byte(r))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	out, err := p.Process(ctx, in...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var got []string
	for _, o := range out {
		got = append(got, string(o.Data))
	}
	for _, st := range p.Stats() {
		if st.Name == sp.Name {
			return got, st
		}
	}
	t.Fatal("no stats for the stage")
	return nil, engine.StageStats{}
}

// TestBadGuests: guests that trap, exit, spin, overrun their memory, return
// bad pointers or malformed results, or try to write a file. Each bad
// record fails alone (on_error: drop here), its neighbours in the same
// batch pass, and the host neither crashes nor hangs.
func TestBadGuests(t *testing.T) {
	denied := filepath.Join(t.TempDir(), "escaped.txt")
	behave := func(t *testing.T) engine.StageSpec {
		return engine.StageSpec{Name: "g", Type: "wasm", Path: wat(t, "behave"),
			Extra: engine.ConfigOf(map[string]any{"memory_limit": "4MiB"})}
	}
	tests := []struct {
		name  string
		spec  func(t *testing.T) engine.StageSpec
		bad   string
		error string // in the failed record's error (checked with on_error: fail)
	}{
		{"unreachable", behave, "trap", "guest trapped: wasm error: unreachable"},
		{"out_of_bounds_pointer", behave, "oobp", "out of bounds of the guest's"},
		{"malformed_result", behave, "junk", "malformed result: 2 results for a batch of 1 (want one per record)"},
		{"memory_past_limit", behave, "grow", "guest trapped: wasm error: unreachable"},
		{"endless_loop", behave, "spin", "timed out"},
		{"endless_recursion", behave, "deep", "guest trapped: call stack over stack_limit (1MiB): recursion too deep or without end"},
		{"go_panic", func(*testing.T) engine.StageSpec { return casesSpec("panic") }, "boom", "guest trapped: wasm error: unreachable (stderr: panic: boom record"},
		{"go_out_of_memory", func(*testing.T) engine.StageSpec {
			sp := casesSpec("alloc")
			sp.Extra = engine.ConfigOf(map[string]any{"memory_limit": "32MiB"})
			return sp
		}, "big", "out of memory"},
		{"write_file_denied", func(*testing.T) engine.StageSpec { return casesSpec("write") }, denied, "write " + denied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := tc.spec(t)
			// Only the endless loop needs the timeout; every other bad
			// record fails by itself, however long a loaded machine takes
			// (a Go guest filling 32 MiB under -race took over 500 ms).
			to := time.Minute
			if tc.name == "endless_loop" {
				to = time.Second
			}
			sp.Timeout = &to
			in := []string{"r1", "r2", tc.bad, "r4", "r5"}
			out, st := run(t, sp, in...)
			if want := []string{"r1", "r2", "r4", "r5"}; fmt.Sprint(out) != fmt.Sprint(want) {
				t.Errorf("output %q, want the neighbours %q", out, want)
			}
			if st.Errors != 1 {
				t.Errorf("stats %+v, want 1 error", st)
			}
			// The same input under on_error: fail names the record and the cause.
			sp.OnError = engine.OnErrorFail
			p, err := engine.Build(&engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{sp}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var buf bytes.Buffer
			err = p.RunReader(context.Background(), strings.NewReader(strings.Join(in, "\n")+"\n"), &buf)
			var se *engine.StageError
			if !errors.As(err, &se) || se.Stage != "g" || se.Record != 3 || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("err = %v, want stage g, record 3, containing %q", err, tc.error)
			}
		})
	}
	if _, err := os.Stat(denied); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the guest wrote %s on the host (stat: %v)", denied, err)
	}
}

// TestBatchIsolation: one bad record in a batch of many leaves all its
// neighbours passing, in order, with none lost or duplicated.
func TestBatchIsolation(t *testing.T) {
	sp := engine.StageSpec{Name: "g", Type: "wasm", Path: wat(t, "behave"), Workers: 2}
	in := make([]string, 3000)
	var want []string
	for i := range in {
		in[i] = fmt.Sprint("rec-", i)
		switch i % 500 {
		case 7:
			in[i] = "trap"
		case 300:
			in[i] = "junk"
		default:
			want = append(want, in[i])
		}
	}
	out, st := run(t, sp, in...)
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("%d records out, want %d in order", len(out), len(want))
	}
	if st.Errors != 12 || st.Passed != int64(len(want)) {
		t.Errorf("stats %+v, want 12 errors, %d passed", st, len(want))
	}
}

// TestGoGuestGarbageCollected: a Go guest that makes garbage on every record
// stays within memory_limit without the clock grant (the Go runtime's
// collector paces itself by the monotonic clock the host provides).
func TestGoGuestGarbageCollected(t *testing.T) {
	sp := casesSpec("garbage")
	sp.Extra = engine.ConfigOf(map[string]any{"memory_limit": "32MiB"})
	in := make([]string, 8000)
	for i := range in {
		in[i] = fmt.Sprint(i)
	}
	out, st := run(t, sp, in...)
	if len(out) != len(in) || st.Errors != 0 || st.Restarts != 0 {
		t.Errorf("%d records out of %d, stats %+v; want all, no errors, no instance replaced", len(out), len(in), st)
	}
}

// TestStackLimit: a recursion without end fails its record with the stack
// bound's error (wrapping ErrStackLimit), with or without a timeout (the
// module is rewritten for the bound either way), and the replaced instance
// runs the next records; a recursion within the limit passes.
func TestStackLimit(t *testing.T) {
	for _, to := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("timeout_", to), func(t *testing.T) {
			sp := engine.StageSpec{Name: "g", Type: "wasm", Path: wat(t, "behave"), Timeout: &to,
				Extra: engine.ConfigOf(map[string]any{"stack_limit": "256KiB"})}
			in := []string{"r1", "deep", "r3", "deep", "r5"}
			out, st := run(t, sp, in...)
			if want := []string{"r1", "r3", "r5"}; fmt.Sprint(out) != fmt.Sprint(want) {
				t.Errorf("output %q, want %q", out, want)
			}
			if st.Errors != 2 || st.Restarts < 2 {
				t.Errorf("stats %+v, want 2 errors and the instance replaced after each", st)
			}
			sp.OnError = engine.OnErrorFail
			p, err := engine.Build(&engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{sp}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			err = p.RunReader(context.Background(), strings.NewReader(strings.Join(in, "\n")+"\n"), io.Discard)
			var se *engine.StageError
			if !errors.As(err, &se) || se.Record != 2 || !errors.Is(err, wasm.ErrStackLimit) ||
				!strings.Contains(err.Error(), "call stack over stack_limit (256KiB)") {
				t.Errorf("err = %v, want record 2 failing with ErrStackLimit", err)
			}
		})
	}
}

// TestStackLimitConfig: stack_limit outside 64KiB-64MiB is a config error
// at its line.
func TestStackLimitConfig(t *testing.T) {
	for _, v := range []string{"1KiB", "65MiB"} {
		sp := engine.StageSpec{Name: "g", Type: "wasm", Path: "x.wasm", Extra: engine.ConfigOf(map[string]any{"stack_limit": v})}
		_, err := engine.Build(&engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{sp}})
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "stack_limit must be from 64KiB to 64MiB") {
			t.Errorf("stack_limit %s: err = %v, want a config error", v, err)
		}
	}
}
