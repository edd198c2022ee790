package wasm_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// TestGuestOutputLogged: what a guest writes on stdout and stderr, and what
// it logs through pipe.log, reaches the host log with the stage's name.
func TestGuestOutputLogged(t *testing.T) {
	tests := []struct {
		name string
		spec func(t *testing.T) engine.StageSpec
		in   string
		want []string
	}{
		{"go_stdout_stderr", func(*testing.T) engine.StageSpec { return casesSpec("print") }, "r1\n",
			[]string{`level=INFO msg="stdout says r1"`, `stream=stdout`, `level=WARN msg="stderr says r1"`, `stream=stderr`, `msg="cases guest ready: print"`}},
		{"wat_pipe_log", func(t *testing.T) engine.StageSpec {
			return engine.StageSpec{Name: "g", Type: "wasm", Path: wat(t, "behave")}
		}, "logs\n", []string{`level=WARN msg="behave: logs"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs enginetest.SyncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			spec := &engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{tc.spec(t)}}
			p, err := engine.Build(spec, engine.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var out bytes.Buffer
			if err := p.RunReader(context.Background(), strings.NewReader(tc.in), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.in {
				t.Errorf("output %q, want %q", out.String(), tc.in)
			}
			for _, w := range append(tc.want, "stage=g") {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log does not contain %q:\n%s", w, logs.String())
				}
			}
		})
	}
}
