package routetest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
)

// An input batch is acknowledged only after every output its records went
// to has written them: a switch branch or a fanout copy that waits on a
// slow output holds the acknowledgement back, however fast the main output
// was.
func TestAckWaitsForEveryOutput(t *testing.T) {
	for name, steps := range map[string]string{
		"switch": `
  - name: route
    switch:
      - {lua: 'tonumber(rec) % 2 == 1', to: odd}
    branches:
      - {name: odd, to: archive}
`,
		"fanout": `
  - name: copies
    fanout: [{to: output}, {to: archive}]
`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeFile(t, dir, "p.yaml", `
input: {type: mem}
output: {type: mem}
outputs:
  archive: {type: file, path: `+filepath.Join(dir, "archive.txt")+`}
stages:`+steps)
			in := connectortest.NewInput()
			in.Open = true
			out := connectortest.NewOutput()
			reg := engine.DefaultRegistry.Clone()
			reg.RegisterInput(in.Type("mem"))
			reg.RegisterOutput(out.Type("mem"))
			bw := &blockingWriter{release: make(chan struct{})}
			p, err := engine.Load(file, engine.WithRegistry(reg), engine.WithOutput("archive", bw))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, nil, nil) }()
			in.Add("1", "2", "3", "4")
			// The main output gets its records while the archive is stuck.
			for len(out.Lines()) < 2 {
				select {
				case <-ctx.Done():
					t.Fatalf("main output has %v", out.Lines())
				case <-time.After(time.Millisecond):
				}
			}
			if acks := in.Acks(); len(acks) != 0 {
				t.Fatalf("acknowledged %v before the archive wrote its records", acks)
			}
			close(bw.release)
			acks, err := in.WaitAcks(ctx, 1)
			if err != nil || len(acks) != 1 || acks[0].Err != nil {
				t.Fatalf("acks %v, %v; want batch 0 delivered", acks, err)
			}
			in.Finish()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := bw.w.String(); got == "" {
				t.Error("the archive wrote nothing")
			}
		})
	}
}

// Named outputs are connectors like output:: a file relative to the
// pipeline file, and a registered type with its own retry:.
func TestNamedOutputsAreConnectors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
outputs:
  errors: {type: file, path: out/errors.txt}
  flaky: {type: mem, retry: {max_attempts: 3, initial: 1ms, max: 2ms}}
stages:
  - name: route
    switch:
      - {lua: 'rec:find("error") ~= nil', to: errs}
    branches:
      - {name: errs, to: errors}
  - name: copies
    fanout: [{to: output}, {to: flaky}]
`)
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	flaky := connectortest.NewOutput()
	flaky.FailTimes(2) // retried, then written
	reg := engine.DefaultRegistry.Clone()
	reg.RegisterOutput(flaky.Type("mem"))
	p, err := engine.Load(file, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader("ok 1\nerror 2\nok 3\n"), &out); err != nil {
		t.Fatal(err)
	}
	errs, err := os.ReadFile(filepath.Join(dir, "out/errors.txt"))
	if err != nil || string(errs) != "error 2\n" {
		t.Errorf("errors file %q, %v", errs, err)
	}
	if out.String() != "ok 1\nok 3\n" || strings.Join(flaky.Lines(), ",") != "ok 1,ok 3" {
		t.Errorf("main %q, flaky %v", out.String(), flaky.Lines())
	}
}
