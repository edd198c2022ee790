package isolate_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// TestChildConfigErrors: a script the child cannot compile or load is a
// configuration error at Load (what pipe lint runs), positioned at the
// stage's code: as in the process, and nothing of it ran in the parent.
func TestChildConfigErrors(t *testing.T) {
	for _, c := range []struct{ kind, code, want string }{
		{"lua", "if then", "p.yaml:5:11: lua syntax error"},
		{"js", "return (", "p.yaml:5:11: js syntax error"},
		{"js", "function transform(r) { return r }\nthrow new Error('top level says no')", "top level says no"},
	} {
		code := "'" + c.code + "'"
		if strings.Contains(c.code, "\n") {
			code = "|\n      " + strings.ReplaceAll(c.code, "\n", "\n      ")
		}
		y := "stages:\n  - name: s\n    type: " + c.kind + "\n    isolation: process\n    code: " + code + "\n"
		spec, err := engine.Parse([]byte(y), filepath.Join(t.TempDir(), "p.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := engine.Build(spec)
		if err != nil {
			t.Fatalf("build: %v (the parent only checks fields)", err)
		}
		err = p.Load(context.Background())
		p.Close()
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: err = %v; want a configuration error with %q", c.kind, c.code, err, c.want)
		}
	}
}
