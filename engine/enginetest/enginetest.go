// Package enginetest is the conformance suite that every stage kind passes.
//
// A kind supplies, for each Case, a StageSpec whose transformer behaves as
// the case's documentation says (a Go function, a Lua or JS script, a wasm
// module, an rpc plugin). Run then checks the engine contract through real
// pipelines: emit, drop, split, metadata, per-record failures under each
// on_error policy, init config, flush, timeouts, workers and record limits.
package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// Case names a behaviour a kind must implement for the suite.
type Case string

// The cases. Records are lines (codec lines) unless the case says ndjson.
const (
	// Identity emits every record unchanged.
	Identity Case = "identity"
	// Upper emits every record with ASCII letters upper-cased.
	Upper Case = "upper"
	// Drop drops records that start with "#" and emits the others unchanged.
	Drop Case = "drop"
	// Split emits one record per comma-separated part, in order ("a,b" → "a", "b").
	Split Case = "split"
	// Meta sets metadata "out" to the value of metadata "in" followed by "!",
	// deletes metadata "gone", and emits the record.
	Meta Case = "meta"
	// Fail fails records equal to "bad" with an error whose message contains
	// "bad record", and emits the others unchanged.
	Fail Case = "fail"
	// Init reads the string "prefix" from the stage config (given to init or
	// the constructor) and emits prefix + record.
	Init Case = "init"
	// Flush emits nothing per record and, at end of stream, one record
	// "count=N" where N is the number of records it saw.
	Flush Case = "flush"
	// Hang never returns for records equal to "hang" (an endless loop, not
	// a sleep that honours nothing) and emits the others unchanged.
	Hang Case = "hang"
	// JSON (codec ndjson) sets the field "seen" to true on each object and
	// emits it.
	JSON Case = "json"
)

// Cases lists every case.
var Cases = []Case{Identity, Upper, Drop, Split, Meta, Fail, Init, Flush, Hang, JSON}

// Impl returns the stage implementing c. The suite sets Name, OnError,
// Timeout, Workers, MaxRecordBytes and, for Init, Config; the kind sets the
// rest (Type, Code or Path, Use, Extra).
type Impl func(t *testing.T, c Case) engine.StageSpec

// Options tune Run.
type Options struct {
	// Registry to build with (default engine.DefaultRegistry).
	Registry *engine.Registry
	// HangTimeout is the timeout used in the Hang cases (default 1s: the
	// records beside the hanging one must pass within it on a loaded
	// machine under -race); kinds with costly restarts may raise it.
	HangTimeout time.Duration
}

type suite struct {
	impl Impl
	opt  Options
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, impl Impl, opt Options) {
	if opt.Registry == nil {
		opt.Registry = engine.DefaultRegistry
	}
	if opt.HangTimeout == 0 {
		opt.HangTimeout = time.Second
	}
	s := &suite{impl: impl, opt: opt}
	t.Run("emit", s.emit)
	t.Run("upper", s.upper)
	t.Run("drop", s.drop)
	t.Run("split", s.split)
	t.Run("metadata", s.meta)
	t.Run("split_inherits_metadata", s.splitMeta)
	t.Run("fail_policy_fail", s.failFail)
	t.Run("fail_policy_drop", s.failDrop)
	t.Run("fail_policy_dead_letter", s.failDeadLetter)
	t.Run("init_config", s.init)
	t.Run("flush", s.flush)
	t.Run("timeout", s.timeout)
	t.Run("timeout_in_batch_neighbours_pass", s.timeoutBatch)
	t.Run("workers_order", s.workers)
	t.Run("max_record_bytes", s.maxBytes)
	t.Run("json", s.json)
}

// Stage returns the spec of c with the suite's name set.
func (s *suite) stage(t *testing.T, c Case) engine.StageSpec {
	t.Helper()
	sp := s.impl(t, c)
	sp.Name = "under-test"
	return sp
}

type result struct {
	out   []*engine.Record
	err   error
	stats []engine.StageStats
}

func (s *suite) run(t *testing.T, spec *engine.Spec, in []*engine.Record) result {
	t.Helper()
	p, err := engine.Build(spec, engine.WithRegistry(s.opt.Registry))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	done := make(chan result, 1)
	go func() {
		out, err := p.Process(ctx, in...)
		done <- result{out: out, err: err, stats: p.Stats()}
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(6 * time.Minute):
		t.Fatal("pipeline did not finish within 6 minutes")
	}
	return result{}
}

func lines(ss ...string) []*engine.Record {
	out := make([]*engine.Record, len(ss))
	for i, s := range ss {
		out[i] = engine.NewRecord([]byte(s))
	}
	return out
}

func texts(rs []*engine.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Data)
	}
	return out
}

func one(sp engine.StageSpec, codec string) *engine.Spec {
	return &engine.Spec{Input: engine.InputSpec{Codec: codec}, Stages: []engine.StageSpec{sp}}
}

func expect(t *testing.T, got []*engine.Record, want ...string) {
	t.Helper()
	g := texts(got)
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("output = %q, want %q", g, want)
	}
}

func stageStats(t *testing.T, r result) engine.StageStats {
	t.Helper()
	for _, st := range r.stats {
		if st.Name == "under-test" {
			if st.In != st.Passed+st.Dropped+st.Errors {
				t.Errorf("accounting broken: in %d != passed %d + dropped %d + errors %d", st.In, st.Passed, st.Dropped, st.Errors)
			}
			return st
		}
	}
	t.Fatal("no stats for the stage under test")
	return engine.StageStats{}
}

func noErr(t *testing.T, r result) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("run: %v", r.err)
	}
}

func (s *suite) emit(t *testing.T) {
	r := s.run(t, one(s.stage(t, Identity), "lines"), lines("a", "", "héllo wörld", "x y z"))
	noErr(t, r)
	expect(t, r.out, "a", "", "héllo wörld", "x y z")
	if st := stageStats(t, r); st.In != 4 || st.Out != 4 || st.Passed != 4 {
		t.Errorf("stats = %+v, want in 4 out 4", st)
	}
}

func (s *suite) upper(t *testing.T) {
	r := s.run(t, one(s.stage(t, Upper), "lines"), lines("abc", "Mixed Case 1"))
	noErr(t, r)
	expect(t, r.out, "ABC", "MIXED CASE 1")
}

func (s *suite) drop(t *testing.T) {
	r := s.run(t, one(s.stage(t, Drop), "lines"), lines("a", "#b", "c", "#"))
	noErr(t, r)
	expect(t, r.out, "a", "c")
	if st := stageStats(t, r); st.Dropped != 2 || st.Errors != 0 {
		t.Errorf("stats = %+v, want 2 dropped, 0 errors", st)
	}
}

func (s *suite) split(t *testing.T) {
	r := s.run(t, one(s.stage(t, Split), "lines"), lines("a,b,c", "d", "e,f"))
	noErr(t, r)
	expect(t, r.out, "a", "b", "c", "d", "e", "f")
	if st := stageStats(t, r); st.In != 3 || st.Out != 6 {
		t.Errorf("stats = %+v, want in 3 out 6", st)
	}
}

func withMeta(data string, kv ...string) *engine.Record {
	r := engine.NewRecord([]byte(data))
	for i := 0; i+1 < len(kv); i += 2 {
		r.Set(kv[i], kv[i+1])
	}
	return r
}

func (s *suite) meta(t *testing.T) {
	in := []*engine.Record{withMeta("r1", "in", "x", "keep", "k", "gone", "g"), withMeta("r2", "in", "y")}
	r := s.run(t, one(s.stage(t, Meta), "lines"), in)
	noErr(t, r)
	expect(t, r.out, "r1", "r2")
	want := []map[string]string{{"in": "x", "keep": "k", "out": "x!"}, {"in": "y", "out": "y!"}}
	for i, o := range r.out {
		if !reflect.DeepEqual(o.Meta, want[i]) {
			t.Errorf("record %d meta = %v, want %v", i, o.Meta, want[i])
		}
	}
}

func (s *suite) splitMeta(t *testing.T) {
	r := s.run(t, one(s.stage(t, Split), "lines"), []*engine.Record{withMeta("a,b", "src", "s1")})
	noErr(t, r)
	expect(t, r.out, "a", "b")
	for _, o := range r.out {
		if o.Get("src") != "s1" {
			t.Errorf("split record %q meta = %v, want src=s1 inherited", o.Data, o.Meta)
		}
	}
	// The split records must not share one metadata map.
	if len(r.out) == 2 {
		r.out[0].Set("src", "changed")
		if r.out[1].Get("src") != "s1" {
			t.Error("split records share their metadata map")
		}
	}
}

func (s *suite) failFail(t *testing.T) {
	sp := s.stage(t, Fail)
	sp.OnError = engine.OnErrorFail
	r := s.run(t, one(sp, "lines"), lines("ok1", "bad", "ok2"))
	var se *engine.StageError
	if !errors.As(r.err, &se) {
		t.Fatalf("err = %v, want a *engine.StageError", r.err)
	}
	if se.Stage != "under-test" || se.Record != 2 || !strings.Contains(se.Error(), "bad record") {
		t.Fatalf("error %q: stage %q record %d; want stage under-test, record 2, cause naming 'bad record'", se, se.Stage, se.Record)
	}
	for _, o := range r.out {
		if string(o.Data) == "ok2" || string(o.Data) == "bad" {
			t.Errorf("record %q was output after the failure", o.Data)
		}
	}
}

func (s *suite) failDrop(t *testing.T) {
	sp := s.stage(t, Fail)
	sp.OnError = engine.OnErrorDrop
	r := s.run(t, one(sp, "lines"), lines("ok1", "bad", "ok2", "bad", "ok3"))
	noErr(t, r)
	expect(t, r.out, "ok1", "ok2", "ok3")
	if st := stageStats(t, r); st.Errors != 2 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want 2 errors, 0 dropped", st)
	}
}

func (s *suite) failDeadLetter(t *testing.T) {
	sp := s.stage(t, Fail)
	sp.OnError = engine.OnErrorDeadLetter
	dl := filepath.Join(t.TempDir(), "rejects.ndjson")
	spec := one(sp, "lines")
	spec.DeadLetter = &engine.DeadLetterSpec{Path: dl}
	r := s.run(t, spec, []*engine.Record{withMeta("ok1"), withMeta("bad", "m", "v"), withMeta("ok2")})
	noErr(t, r)
	expect(t, r.out, "ok1", "ok2")
	data, err := os.ReadFile(dl)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(ls) != 1 {
		t.Fatalf("dead-letter file has %d lines, want 1:\n%s", len(ls), data)
	}
	var line struct {
		Time, Stage, Error, Record string
		RecordNumber               int64 `json:"record_number"`
		Meta                       map[string]string
	}
	if err := json.Unmarshal([]byte(ls[0]), &line); err != nil {
		t.Fatalf("dead-letter line is not JSON: %v\n%s", err, ls[0])
	}
	if line.Stage != "under-test" || line.Record != "bad" || line.RecordNumber != 2 ||
		!strings.Contains(line.Error, "bad record") || line.Meta["m"] != "v" {
		t.Errorf("dead-letter line = %s", ls[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, line.Time); err != nil {
		t.Errorf("dead-letter time %q: %v", line.Time, err)
	}
	if st := stageStats(t, r); st.DeadLettered != 1 || st.Errors != 1 {
		t.Errorf("stats = %+v, want 1 error, 1 dead-lettered", st)
	}
}

func (s *suite) init(t *testing.T) {
	sp := s.stage(t, Init)
	sp.Config = engine.ConfigOf(map[string]any{"prefix": "> "})
	r := s.run(t, one(sp, "lines"), lines("a", "b"))
	noErr(t, r)
	expect(t, r.out, "> a", "> b")
}

func (s *suite) flush(t *testing.T) {
	in := make([]string, 2500)
	for i := range in {
		in[i] = fmt.Sprint(i)
	}
	r := s.run(t, one(s.stage(t, Flush), "lines"), lines(in...))
	noErr(t, r)
	expect(t, r.out, "count=2500")
}

func (s *suite) timeout(t *testing.T) {
	sp := s.stage(t, Hang)
	sp.OnError = engine.OnErrorDrop
	to := s.opt.HangTimeout
	sp.Timeout = &to
	start := time.Now()
	r := s.run(t, one(sp, "lines"), lines("a", "hang", "b", "hang", "c"))
	noErr(t, r)
	expect(t, r.out, "a", "b", "c")
	st := stageStats(t, r)
	if st.Timeouts != 2 || st.Errors != 2 {
		t.Errorf("stats = %+v, want 2 timeouts", st)
	}
	if el := time.Since(start); el > 30*to+10*time.Second {
		t.Errorf("took %v for two timeouts of %v", el, to)
	}
}

func (s *suite) timeoutBatch(t *testing.T) {
	sp := s.stage(t, Hang)
	sp.OnError = engine.OnErrorFail
	to := s.opt.HangTimeout
	sp.Timeout = &to
	in := make([]string, 300)
	for i := range in {
		in[i] = fmt.Sprint("r", i)
	}
	in[150] = "hang"
	r := s.run(t, one(sp, "lines"), lines(in...))
	var se *engine.StageError
	if !errors.As(r.err, &se) || !errors.Is(r.err, engine.ErrStageTimeout) || se.Record != 151 {
		t.Fatalf("err = %v, want a timeout of record 151", r.err)
	}
	sp.OnError = engine.OnErrorDrop
	r = s.run(t, one(sp, "lines"), lines(in...))
	noErr(t, r)
	if len(r.out) != 299 {
		t.Fatalf("%d records out, want the 299 neighbours of the stuck record", len(r.out))
	}
	for i, o := range r.out {
		if string(o.Data) == "hang" {
			t.Fatalf("stuck record output at %d", i)
		}
	}
}

func (s *suite) workers(t *testing.T) {
	sp := s.stage(t, Upper)
	sp.Workers = 4
	in := make([]string, 6000)
	want := make([]string, len(in))
	for i := range in {
		in[i] = fmt.Sprintf("rec-%05d", i)
		want[i] = strings.ToUpper(in[i])
	}
	r := s.run(t, one(sp, "lines"), lines(in...))
	noErr(t, r)
	expect(t, r.out, want...)
}

func (s *suite) maxBytes(t *testing.T) {
	sp := s.stage(t, Identity)
	sp.MaxRecordBytes = 16
	sp.OnError = engine.OnErrorDrop
	r := s.run(t, one(sp, "lines"), lines("short", strings.Repeat("x", 100), "fine"))
	noErr(t, r)
	expect(t, r.out, "short", "fine")
	if st := stageStats(t, r); st.Errors != 1 {
		t.Errorf("stats = %+v, want 1 error", st)
	}
	sp.OnError = engine.OnErrorFail
	r = s.run(t, one(sp, "lines"), lines("short", strings.Repeat("x", 100)))
	if !errors.Is(r.err, engine.ErrRecordTooLarge) {
		t.Errorf("err = %v, want ErrRecordTooLarge", r.err)
	}
}

func (s *suite) json(t *testing.T) {
	in := lines(`{"n":1}`, `{"n":2,"s":"x","a":[1,2],"o":{"k":null}}`)
	r := s.run(t, one(s.stage(t, JSON), "ndjson"), in)
	noErr(t, r)
	want := []map[string]any{{"n": 1.0, "seen": true}, {"n": 2.0, "s": "x", "a": []any{1.0, 2.0}, "o": map[string]any{"k": nil}, "seen": true}}
	if len(r.out) != len(want) {
		t.Fatalf("got %d records, want %d", len(r.out), len(want))
	}
	for i, o := range r.out {
		var got map[string]any
		if err := json.Unmarshal(o.Data, &got); err != nil {
			t.Fatalf("record %d is not JSON: %q", i, o.Data)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("record %d = %s, want %v", i, o.Data, want[i])
		}
	}
}
