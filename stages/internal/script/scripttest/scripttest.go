// Package scripttest holds the helpers the tests of the script kinds (lua,
// js) share.
package scripttest

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// Build parses yaml as a pipeline file in a temporary directory (TESTDATA
// in it stands for the package's testdata directory), builds and loads it.
func Build(t *testing.T, yaml string) (*engine.Pipeline, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "p.yaml")
	wd, _ := os.Getwd()
	yaml = strings.ReplaceAll(yaml, "TESTDATA", filepath.Join(wd, "testdata"))
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse([]byte(yaml), file)
	if err != nil {
		return nil, err
	}
	p, err := engine.Build(spec)
	if err != nil {
		return nil, err
	}
	return p, p.Load(context.Background())
}

// Run builds yaml (see Build) and runs it over in.
func Run(t *testing.T, yaml, in string) (string, *engine.Pipeline, error) {
	t.Helper()
	p, err := Build(t, yaml)
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	err = p.RunReader(context.Background(), strings.NewReader(in), &out)
	return out.String(), p, err
}

// Stage is a pipeline of one ndjson stage of kind running code, with
// on_error: drop, timeout: 1s (a record beside a stuck one must pass
// within it on a loaded machine under -race) and the extra fields given.
func Stage(kind, code string, extra ...string) string {
	y := "input: {codec: ndjson}\nstages:\n  - name: s\n    type: " + kind + "\n    on_error: drop\n    timeout: 1s\n"
	for _, e := range extra {
		y += "    " + e + "\n"
	}
	return y + "    code: |\n      " + strings.ReplaceAll(code, "\n", "\n      ") + "\n"
}

// DeepJSON checks that records nested deeper than script.MaxDepth are
// record errors of a stage of kind, found at once (not after a conversion
// quadratic in their size that the timeout cannot stop), as a whole record
// and as a field the script reads, and that a deep field the script does
// not read passes untouched. readA is code that reads rec.a and returns
// rec.
func DeepJSON(t *testing.T, kind, readA string) {
	t.Helper()
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deep := nest(100000) // 200 KB: minutes of conversion before
	ok := nest(50)
	in := `{"n":1}` + "\n" + deep + "\n" + `{"a":` + deep + "}\n" + `{"a":` + ok + "}\n"
	out, p, err := Run(t, Stage(kind, readA), in)
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"n":1}`+"\n"+`{"a":`+ok+"}\n" {
		t.Errorf("out = %.100q; want the records that are not too deep", out)
	}
	if st := p.Stats()[1]; st.Errors != 2 || st.Timeouts != 0 {
		t.Errorf("stats %+v; want 2 errors, no timeout", st)
	}
	for _, rec := range []string{deep, `{"a":` + deep + "}"} {
		_, _, err = Run(t, strings.Replace(Stage(kind, readA), "on_error: drop", "on_error: fail", 1), rec+"\n")
		if err == nil || !strings.Contains(err.Error(), "nested deeper than 200 levels") {
			t.Errorf("%.20s...: err = %v; want a record error naming the depth limit", rec, err)
		}
	}
	// Not read: the record passes as it is.
	out, _, err = Run(t, Stage(kind, "return rec"), `{"a":`+deep+"}\n")
	if err != nil || out != `{"a":`+deep+"}\n" {
		t.Errorf("unread deep field: %.60q, %v; want the record unchanged", out, err)
	}
}

// MemoryLimit checks that each of codes (a call of a stage of kind that
// allocates without end) fails its record with "memory_limit exceeded"
// under memory_limit: 32MiB and a timeout far away, that its neighbours
// pass, and that the runtime is replaced (the next record runs in a fresh
// one).
func MemoryLimit(t *testing.T, kind string, codes map[string]string) {
	t.Helper()
	for name, code := range codes {
		t.Run(name, func(t *testing.T) {
			y := strings.Replace(Stage(kind, code, "memory_limit: 32MiB"), "timeout: 1s", "timeout: 10m", 1)
			out, p, err := Run(t, y, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
			if err != nil {
				t.Fatal(err)
			}
			if out != "{\"n\":1}\n{\"n\":3}\n" {
				t.Errorf("out = %q; want the neighbours of record 2", out)
			}
			if st := p.Stats()[1]; st.Errors != 1 {
				t.Errorf("stats %+v; want 1 error", st)
			}
			_, _, err = Run(t, strings.Replace(y, "on_error: drop", "on_error: fail", 1), "{\"n\":2}\n")
			if err == nil || !strings.Contains(err.Error(), "memory_limit exceeded") {
				t.Errorf("err = %v; want memory_limit exceeded", err)
			}
		})
	}
}

// MetaReach checks the metadata of records through a stage of kind whose
// code is the body of transform, for bodies that never name meta (the
// kind makes no metadata object for them: the records keep theirs, emitted
// ones inherit it) and for bodies that reach it another way (reach sets
// metadata "seen" to "yes" without naming meta: arguments, ...).
func MetaReach(t *testing.T, kind, emitAndReturn, reach string) {
	t.Helper()
	for _, c := range []struct {
		code string
		want map[string]string
	}{
		{emitAndReturn, map[string]string{"src": "s1"}},
		{reach, map[string]string{"src": "s1", "seen": "yes"}},
	} {
		spec := &engine.Spec{Stages: []engine.StageSpec{{Name: "s", Type: kind, Code: c.code}}}
		p, err := engine.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := engine.NewRecord([]byte("a"))
		r.Set("src", "s1")
		out, err := p.Process(context.Background(), r)
		p.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.code, err)
		}
		if len(out) == 0 {
			t.Fatalf("%s: no output", c.code)
		}
		for i, o := range out {
			if !maps.Equal(o.Meta, c.want) {
				t.Errorf("%s: record %d meta = %v, want %v", c.code, i, o.Meta, c.want)
			}
		}
		if len(out) == 2 && reflect.ValueOf(out[0].Meta).UnsafePointer() == reflect.ValueOf(out[1].Meta).UnsafePointer() {
			t.Errorf("%s: the records share a metadata map", c.code)
		}
	}
}
