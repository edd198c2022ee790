package enginetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// CheckConfigError fails t unless err is a one-line *engine.ConfigError
// that starts with prefix (typically "FILE:LINE:COL: ") and contains every
// string of want.
func CheckConfigError(t testing.TB, err error, prefix string, want ...string) {
	t.Helper()
	var ce *engine.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *engine.ConfigError", err, err)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("err = %q, want it to start with %q", err, prefix)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %q, want it to contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("err spans several lines: %q", err)
	}
}

// CheckLoadError fails t unless the pipeline file fails to load with a
// configuration error at file:at (LINE:COL) containing every string of
// want, and running it reports the same error.
func CheckLoadError(t testing.TB, file, at string, want ...string) {
	t.Helper()
	p, err := engine.Load(file)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer p.Close()
	CheckConfigError(t, p.Load(context.Background()), file+":"+at+": ", want...)
	err = p.RunReader(context.Background(), strings.NewReader("a\n"), new(strings.Builder))
	CheckConfigError(t, err, file+":"+at+": ", want...)
}

// SyncBuffer is a bytes.Buffer that plugin goroutines may write (a log
// destination) while a test reads it.
type SyncBuffer = testkit.Buffer

// RunREADMEExamplesMapped is RunREADMEExamples for examples whose stages
// name files the test builds elsewhere (plugins, modules): path maps each
// stage's path: as written in the README to the file to run.
func RunREADMEExamplesMapped(t *testing.T, readme string, path func(string) string, opts ...engine.Option) int {
	t.Helper()
	md, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	b := fenceRE.FindAllStringSubmatch(string(md), -1)
	if len(b) == 0 || len(b)%3 != 0 {
		t.Fatalf("%s: found %d example blocks; want pipeline, input, output triples", readme, len(b))
	}
	for i := 0; i < len(b); i += 3 {
		if b[i][1] != "yaml pipeline" || b[i+1][1] != "text input" || b[i+2][1] != "text output" {
			t.Fatalf("%s: example %d is not a pipeline, input, output triple", readme, i/3+1)
		}
		spec, err := engine.Parse([]byte(b[i][2]), readme, opts...)
		if err != nil {
			t.Fatal(err)
		}
		for j := range spec.Stages {
			if p := spec.Stages[j].Path; p != "" {
				spec.Stages[j].Path = path(p)
			}
		}
		p, err := engine.Build(spec, opts...)
		if err != nil {
			t.Fatalf("%s example %d: %v", readme, i/3+1, err)
		}
		var out bytes.Buffer
		err = p.RunReader(context.Background(), strings.NewReader(b[i+1][2]), &out)
		p.Close()
		if err != nil {
			t.Fatalf("%s example %d: %v", readme, i/3+1, err)
		}
		if out.String() != b[i+2][2] {
			t.Errorf("%s example %d output:\n%s\nREADME says:\n%s", readme, i/3+1, out.String(), b[i+2][2])
		}
	}
	return len(b) / 3
}
