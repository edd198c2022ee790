package routetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// routedVersion is a switch whose cases send errors (and, from v2 on,
// warnings) to a branch ending at the named output "errors"; every other
// record goes on to the main output. Each stage tags records with the
// version.
func routedVersion(t *testing.T, dir, v string, warn bool, errs io.Writer) *engine.Pipeline {
	t.Helper()
	cases := "      - {select: {field: level, equals: error}, to: errs}\n"
	if warn {
		cases += "      - {select: {field: level, equals: warn}, to: errs}\n"
	}
	file := writeFile(t, dir, v+".yaml", fmt.Sprintf(`
input: {codec: ndjson}
output: {codec: ndjson}
outputs: {errors: {type: stdout, codec: ndjson}}
stages:
  - name: route
    workers: 2
    switch:
%s    branches:
      - name: errs
        to: errors
        stages: [{name: tag-errs, type: native, use: set, workers: 2, config: {field: v, value: %s}}]
  - {name: tag, type: native, use: set, workers: 3, config: {field: v, value: %s}}
`, cases, v, v))
	p, err := engine.Load(file, engine.WithOutput("errors", errs))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type liveRec struct {
	N     int    `json:"n"`
	Level string `json:"level"`
	V     string `json:"v"`
}

// A routed pipeline (a switch, a branch ending at a named output) is
// replaced twice while records stream through it, the second time with a
// new case: every record comes out exactly once, at the output its
// version's cases chose, in order within each output, and the records of
// an older version all come before those of a newer one on each output.
func TestRunLiveReloadsRouted(t *testing.T) {
	dir := t.TempDir()
	errs := &testkit.Buffer{}
	main := &testkit.Buffer{}
	p := routedVersion(t, dir, "v1", false, errs)
	pr, pw := io.Pipe()
	reloads := make(chan engine.Reload)
	done := make(chan error, 1)
	go func() { done <- p.RunLive(context.Background(), pr, main, reloads) }()
	level := func(i int) string {
		switch {
		case i%5 == 0:
			return "error"
		case i%7 == 0:
			return "warn"
		}
		return "info"
	}
	const n = 6000
	write := func(from, to int) {
		for i := from; i < to; i++ {
			fmt.Fprintf(pw, `{"n":%d,"level":%q}`+"\n", i, level(i))
			if i%500 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	swap := func(next *engine.Pipeline) error {
		res := make(chan error, 1)
		reloads <- engine.Reload{Next: next, Done: res}
		return <-res
	}
	write(0, 2000)
	if err := swap(routedVersion(t, dir, "v2", false, errs)); err != nil {
		t.Fatal(err)
	}
	write(2000, 4000)
	if err := swap(routedVersion(t, dir, "v3", true, errs)); err != nil {
		t.Fatal(err)
	}
	write(4000, n)
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	seen := make([]int, n)
	check := func(name, text string, want func(r liveRec) bool) {
		last, lastV := -1, "v1"
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			var r liveRec
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%s: %q: %v", name, l, err)
			}
			if r.N <= last {
				t.Fatalf("%s: record %d after %d: out of order", name, r.N, last)
			}
			if r.V < lastV {
				t.Fatalf("%s: record %d went through %s after a record went through %s", name, r.N, r.V, lastV)
			}
			if !want(r) {
				t.Fatalf("%s: record %+v does not belong here", name, r)
			}
			last, lastV = r.N, r.V
			seen[r.N]++
		}
	}
	toErrs := func(r liveRec) bool { return r.Level == "error" || r.Level == "warn" && r.V == "v3" }
	check("errors", errs.String(), toErrs)
	check("main", main.String(), func(r liveRec) bool { return !toErrs(r) })
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("record %d came out %d times", i, k)
		}
	}
	st := statsByName(p)
	if st["output.errors"].Out == 0 || st["route.errs"].In != st["output.errors"].Out {
		t.Errorf("the named output's and the branch's counts cover the whole run: %+v %+v", st["route.errs"], st["output.errors"])
	}
}

// A reload that changes a named output is refused; the run goes on.
func TestRunLiveRoutedRefusesOutputChange(t *testing.T) {
	dir := t.TempDir()
	p := routedVersion(t, dir, "v1", false, io.Discard)
	next, err := engine.Load(writeFile(t, dir, "next.yaml", `
input: {codec: ndjson}
output: {codec: ndjson}
outputs: {errors: {type: stdout, codec: lines}}
stages:
  - name: route
    switch: [{select: {field: level, equals: error}, to: errs}]
    branches: [{name: errs, to: errors}]
`), engine.WithOutput("errors", io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	reloads := make(chan engine.Reload, 1)
	res := make(chan error, 1)
	reloads <- engine.Reload{Next: next, Done: res}
	var out testkit.Buffer
	done := make(chan error, 1)
	pr, pw := io.Pipe()
	go func() { done <- p.RunLive(context.Background(), pr, &out, reloads) }()
	if err := <-res; !errors.Is(err, engine.ErrReloadRefused) || !strings.Contains(err.Error(), "outputs changed") {
		t.Fatalf("err = %v", err)
	}
	fmt.Fprintln(pw, `{"n":1,"level":"info"}`)
	pw.Close()
	if err := <-done; err != nil || out.String() != `{"n":1,"level":"info","v":"v1"}`+"\n" {
		t.Fatalf("run: %v %q", err, out.String())
	}
}
