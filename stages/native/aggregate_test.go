package native_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// TestAggregateGolden runs the cases of testdata/aggregate (the layout of
// testdata/parse: pipeline.yaml, input, expected, and dead_letter or error
// when records fail).
func TestAggregateGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/aggregate/*/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("%d golden cases, want at least 10", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) { runGolden(t, dir) })
	}
}

func TestAggregateConfigErrors(t *testing.T) {
	cases := []struct{ config, msg string }{
		{"{window: 1s, count: 5}", "not both"},
		{"{window: 10s, slide: 3s}", "divide it"},
		{"{window: 10s, slide: 20s}", "at most window"},
		{"{window: 1000s, slide: 100ms}", "at most 1000"},
		{"{count: 5, time_field: ts}", "needs time windows"},
		{"{time_field: ts}", "needs time windows"},
		{"{window: 1s, allowed_lateness: 1s}", "needs event time"},
		{"{window: 1s, time_field: ts, time_formats: [iso]}", "strftime layout"},
		{"{window: 1s, time_field: ts, timezone: Mars/Base}", "timezone"},
		{"{aggregates: [{fn: median, field: x}]}", `unknown function "median"`},
		{"{aggregates: [{fn: p101, field: x}]}", `unknown function "p101"`},
		{"{aggregates: [{fn: sum}]}", "sum needs field"},
		{"{aggregates: [{field: x}]}", `missing required field "fn"`},
		{"{aggregates: [{fn: count}, {fn: count}]}", `output key "count" is taken`},
		{"{group_by: [count]}", `output key "count" is taken`},
		{"{group_by: [a, a]}", "twice"},
		{"{group_by: ['a.*']}", "wildcards"},
		{"{max_groups: 0}", "max_groups must be at least 1"},
		{"{on_max_groups: spill}", "spill"},
		{"{late: ignore}", "ignore"},
		{"{aggregates: [{fn: p99, field: x}], relative_accuracy: 1.5}", "relative_accuracy must be between 0 and 1"},
		{"{window: -1s}", "must not be negative"},
		{"{window: 1s, time_output: julian}", "strftime layout"},
	}
	for _, c := range cases {
		t.Run(c.config, func(t *testing.T) {
			_, err := build(t, fmt.Sprintf("stages:\n  - name: s\n    type: native\n    use: aggregate\n    config: %s\n", c.config))
			var ce *engine.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want a config error containing %q", err, c.msg)
			}
			if ce.Line < 5 || ce.File != "t.yaml" {
				t.Errorf("error not positioned in the config: %v", err)
			}
		})
	}
}

// TestAggregateWorkersRefused: time windows close on the stage's clock,
// which needs one instance; a count window or a whole-input aggregate
// (no clock) runs with several workers, each aggregating its share.
func TestAggregateWorkersRefused(t *testing.T) {
	p, err := build(t, "stages: [{name: s, type: native, use: aggregate, workers: 2, config: {window: 1s}}]")
	if err != nil {
		t.Fatal(err)
	}
	err = p.RunReader(context.Background(), strings.NewReader("a\n"), io.Discard)
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "workers: 1") || ce.Line == 0 {
		t.Fatalf("err = %v, want a positioned config error asking for workers: 1", err)
	}
	out, err := run(t, "stages: [{name: s, type: native, use: aggregate, workers: 2}]", "a\nb\nc\n")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for line := range strings.Lines(out) {
		var r struct{ Count int }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		total += r.Count
	}
	if total != 3 {
		t.Errorf("workers: 2 counted %d records in all, want 3:\n%s", total, out)
	}
}

// TestAggregatePercentiles: p50, p90, p99 and p99.9 of 100000 shuffled
// values are within the sketch's relative accuracy of the exact value of
// the same rank (q·(n-1), rounded down), and min, max, avg and sum exact.
func TestAggregatePercentiles(t *testing.T) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, n)
	var in strings.Builder
	var sum float64
	for i := range vals {
		vals[i] = math.Exp(rng.Float64()*10) - 1 // 0 to 22025, skewed like latencies
		sum += vals[i]
		fmt.Fprintf(&in, "{\"ms\":%v}\n", vals[i])
	}
	out, err := run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: aggregate, config: {aggregates: [{fn: p50, field: ms}, {fn: p90, field: ms}, {fn: p99, field: ms}, {fn: p99.9, field: ms}, {fn: min, field: ms}, {fn: max, field: ms}, {fn: avg, field: ms}]}}]", in.String())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	slices.Sort(vals)
	for name, q := range map[string]float64{"p50_ms": 0.5, "p90_ms": 0.9, "p99_ms": 0.99, "p99.9_ms": 0.999} {
		exact := vals[int(q*(n-1))]
		if rel := math.Abs(got[name]-exact) / exact; rel > 0.01 {
			t.Errorf("%s = %v, exact %v: off by %.3f%%, more than 1%%", name, got[name], exact, 100*rel)
		}
	}
	if got["min_ms"] != vals[0] || got["max_ms"] != vals[n-1] {
		t.Errorf("min %v max %v, want %v and %v", got["min_ms"], got["max_ms"], vals[0], vals[n-1])
	}
	if math.Abs(got["avg_ms"]-sum/n) > 1e-9*sum/n {
		t.Errorf("avg %v, want %v", got["avg_ms"], sum/n)
	}
}

// TestAggregateRetained: Retained counts the records given since the
// first record of the oldest open group (or of the unreported late
// records), and 0 once everything was emitted.
func TestAggregateRetained(t *testing.T) {
	type step struct {
		rec  string // "" : Flush
		want int64
	}
	cases := []struct {
		name   string
		use    string
		config map[string]any
		steps  []step
	}{
		{"count windows per group", "aggregate", map[string]any{"count": 2, "group_by": []any{"k"}}, []step{
			{`{"k":"a"}`, 1}, {`{"k":"b"}`, 2}, {`{"k":"a"}`, 2}, // a closed: b (2nd of 3) is the oldest held
			{`{"k":"c"}`, 3}, {`{"k":"b"}`, 2}, {`{"k":"c"}`, 0}, {"", 0}}},
		{"a failed record is not held", "aggregate", map[string]any{"count": 2, "group_by": []any{"k"}}, []step{
			{`not json`, 0}, {`{"k":"a"}`, 1}, {`nope`, 2}, {`{"k":"a"}`, 0}}},
		{"count holds all until the end", "count", map[string]any{}, []step{
			{`x`, 1}, {`y`, 2}, {`z`, 3}, {"", 0}}},
		{"late records counted until reported", "aggregate", map[string]any{"window": "1s", "time_field": "t", "late": "count", "idle_advance": false}, []step{
			{`{"t":"2026-01-01T00:00:05Z"}`, 1}, {`{"t":"2026-01-01T00:00:07Z"}`, 1}, // window :05 closed by the watermark
			{`{"t":"2026-01-01T00:00:01Z"}`, 2}, // late: held until reported with the next window that closes
			{`{"t":"2026-01-01T00:00:09Z"}`, 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, ok := engine.DefaultRegistry.LookupNative(c.use)
			if !ok {
				t.Fatalf("%s is not registered", c.use)
			}
			tr, err := n.New(engine.ConfigOf(c.config))
			if err != nil {
				t.Fatal(err)
			}
			r := tr.(engine.Retainer)
			emit := func(*engine.Record) {}
			for i, s := range c.steps {
				if s.rec == "" {
					if err := tr.(engine.Flusher).Flush(context.Background(), emit); err != nil {
						t.Fatal(err)
					}
				} else {
					_ = tr.Transform(context.Background(), engine.NewRecord([]byte(s.rec)), emit)
				}
				if got := r.Retained(); got != s.want {
					t.Fatalf("step %d (%s): Retained() = %d, want %d", i, s.rec, got, s.want)
				}
			}
		})
	}
}
