package routetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// A record failing under on_error: fail in a branch stops the run with the
// stage's error (no deadlock between the demux, the branches and the
// merger), whether the branch merges back or ends at an output.
func TestBranchFailureStopsTheRun(t *testing.T) {
	for name, to := range map[string]string{"merging": "", "to an output": "to: output"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
stages:
  - name: route
    workers: 4
    switch:
      - {lua: 'rec.n % 2 == 0', to: even}
    branches:
      - name: even
        `+to+`
        stages:
          - {name: picky, type: lua, workers: 4, code: 'if rec.n == 5000 then error("bad record") end return rec'}
  - {name: after, type: native, use: set, config: {fields: {after: true}}, workers: 2}
`)
			p, err := engine.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = p.RunReader(context.Background(), strings.NewReader(records(20000)), &out)
			var se *engine.StageError
			if !errors.As(err, &se) || se.Stage != "picky" || se.Record != 5000 || !strings.Contains(err.Error(), "bad record") {
				t.Fatalf("error %v; want picky's error on record 5000", err)
			}
		})
	}
}

// A branch stage that times out fails only its record, under its
// on_error; a switch condition that times out fails the record under the
// switch's on_error. The counts say so.
func TestTimeoutsInBranchesAndConditions(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
dead_letter: {path: dl.ndjson}
stages:
  - name: route
    timeout: 100ms
    on_error: dead_letter
    switch:
      - {lua: 'rec.n == 7 and (function() while true do end end)() or rec.n % 2 == 0', to: even}
    branches:
      - name: even
        stages:
          - {name: slowpoke, type: js, timeout: 100ms, on_error: drop, workers: 2, code: 'if (rec.n === 10) { for (;;) {} } return rec'}
`)
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(records(40)), &out); err != nil {
		t.Fatal(err)
	}
	st := statsByName(p)
	if sw := st["route"]; sw.Errors != 1 || sw.Timeouts != 1 || sw.DeadLettered != 1 || sw.Out != 39 {
		t.Errorf("switch: %+v; want record 7 timed out and dead-lettered", sw)
	}
	if b := st["route.even"]; b.In != 20 || b.Errors != 1 || b.Timeouts != 1 || b.Out != 19 {
		t.Errorf("branch: %+v; want record 10 timed out, 19 out", b)
	}
	if got := strings.Count(out.String(), "\n"); got != 38 {
		t.Errorf("%d records out, want 38", got)
	}
}

// Cancelling the run's context stops reading; what was read still goes
// through the branches and out, and the run ends.
func TestCancelWithBranches(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
stages:
  - name: route
    switch:
      - {lua: 'rec:sub(1, 1) == "a"', to: a}
    branches:
      - name: a
        stages: [{name: up, type: lua, code: 'return rec:upper()', workers: 4}]
`)
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out testkit.Buffer
	go func() { done <- p.RunReader(ctx, pr, &out) }()
	if _, err := pw.Write([]byte("abc\nxyz\n")); err != nil {
		t.Fatal(err)
	}
	cancel()
	err = <-done
	pw.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run ended with %v; want context.Canceled", err)
	}
	if got := out.String(); got != "" && got != "ABC\nxyz\n" {
		t.Errorf("output %q: want the records read, in order, or none", got)
	}
}
