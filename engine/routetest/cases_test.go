package routetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"gopkg.in/yaml.v3"
)

// selectCases are the select: conditions of casesPipeline, in order.
var selectCases = []string{
	`{field: level, equals: error}`,
	`{field: http.status, gte: 500}`,
	`{field: level, equals: warn}`,
	`{field: 'a\.b', equals: dotted}`,
	`{field: tags.1, equals: slow}`,
	`{field: user.name, matches: '^adm'}`,
	`{field: missing, exists: false}`,
}

func casesPipeline(t testing.TB, codec string) *engine.Pipeline {
	var b strings.Builder
	fmt.Fprintf(&b, "input: {codec: %s}\nstages:\n  - name: route\n    switch:\n", codec)
	for i, c := range selectCases {
		fmt.Fprintf(&b, "      - {select: %s, to: b%d}\n", c, i)
	}
	b.WriteString("    branches:\n")
	for i := range selectCases {
		fmt.Fprintf(&b, "      - {name: b%d, stages: [{name: mark%d, type: native, use: set, config: {field: routed, value: b%d}}]}\n", i, i, i)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A switch looks the fields of its select: cases up once per record; the
// branch taken must be that of the first case whose select stage, run on
// its own, keeps the record.
func TestSwitchSelectCasesDecodeOnce(t *testing.T) {
	p := casesPipeline(t, "ndjson")
	sel, ok := engine.DefaultRegistry.LookupNative("select")
	if !ok {
		t.Fatal("select is not registered")
	}
	var conds []engine.Transformer
	for _, c := range selectCases {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(c), &m); err != nil {
			t.Fatal(err)
		}
		tr, err := sel.New(engine.ConfigOf(m))
		if err != nil {
			t.Fatal(err)
		}
		conds = append(conds, tr)
	}
	inputs := []string{
		`{"level":"error","missing":1}`,
		`{"level":"info","http":{"status":503},"missing":1}`,
		`{"http":{"status":"503"},"level":"warn","missing":1}`,
		` {"a.b":"dotted","a":{"b":"x"},"missing":1}`,
		`{"tags":["x","slow"],"missing":1}`,
		`{"user":{"name":"admin"},"missing":1}`,
		`{"user":{"name":"bob"}}`,
		`{"missing":1,"user":{"name":"bob"}}`,
		`{"level":"er\u0072or","missing":null}`,
	}
	for _, in := range inputs {
		want := "merged"
		for i, c := range conds {
			kept := false
			if err := c.Transform(context.Background(), engine.NewRecord([]byte(in)), func(*engine.Record) { kept = true }); err != nil {
				t.Fatal(err)
			}
			if kept {
				want = fmt.Sprintf("b%d", i)
				break
			}
		}
		out, err := p.Process(context.Background(), engine.NewRecord([]byte(in)))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if len(out) != 1 {
			t.Fatalf("%s: %d records out", in, len(out))
		}
		got := "merged"
		if i := strings.Index(string(out[0].Data), `"routed":"`); i >= 0 {
			got = strings.SplitN(string(out[0].Data[i+len(`"routed":"`):]), `"`, 2)[0]
		}
		if got != want {
			t.Errorf("%s: branch %s, select stages alone give %s", in, got, want)
		}
	}
	// A key repeated on a case's path fails the record, as in the select
	// stage.
	if _, err := p.Process(context.Background(), engine.NewRecord([]byte(`{"level":"info","level":"error"}`))); err == nil ||
		!strings.Contains(err.Error(), "case 1") || !strings.Contains(err.Error(), "duplicate key") {
		t.Fatalf("repeated key: err = %v, want case 1's duplicate key error", err)
	}
	// A record that is not a JSON object fails as the select stage fails it.
	if _, err := casesPipeline(t, "lines").Process(context.Background(), engine.NewRecord([]byte("plain text"))); err == nil ||
		!strings.Contains(err.Error(), "case 1") {
		t.Fatalf("plain text: err = %v, want the first case's error", err)
	}
}

// BenchmarkSwitchSelectCases routes records through a switch of seven
// select: cases (most records reach the last case or none): ns/op is per
// record.
func BenchmarkSwitchSelectCases(b *testing.B) {
	p := casesPipeline(b, "ndjson")
	recs := make([]*engine.Record, 1000)
	for i := range recs {
		recs[i] = engine.NewRecord(fmt.Appendf(nil, `{"ts":"2026-01-01T00:00:00Z","level":"info","service":"api","msg":"request %d done","http":{"method":"GET","status":200},"tags":["a","b"],"user":{"name":"u%d"},"missing":1}`, i, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Process(context.Background(), recs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
