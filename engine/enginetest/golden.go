package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// RunGolden runs one golden case: dir holds pipeline.yaml and input; the
// run's output is compared with dir/expected, the error of a failed run
// (a *engine.StageError) with dir/error, and the records dead-lettered
// (record number, stage and error, one line each) with dir/dead_letter; a
// missing file means nothing expected. With update, the files are written
// instead. After a run that succeeded, every stage's counts must add up
// (in = passed + dropped + errors). It returns the run's output.
func RunGolden(t *testing.T, dir string, update bool, opts ...engine.Option) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse(data, filepath.Join(dir, "pipeline.yaml"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	dl := filepath.Join(t.TempDir(), "dead.ndjson")
	if spec.DeadLetter != nil {
		spec.DeadLetter.Path = dl
	}
	p, err := engine.Build(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in, err := os.ReadFile(filepath.Join(dir, "input"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runErr := p.RunReader(ctx, bytes.NewReader(in), &out)
	check := func(name, got string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if update {
			if got == "" {
				os.Remove(path)
				return
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			want = nil
		} else if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s:\n got: %s\nwant: %s", name, got, want)
		}
	}
	check("expected", out.String())
	var errText string
	if runErr != nil {
		var se *engine.StageError
		if !errors.As(runErr, &se) {
			t.Fatalf("run error %v is not a *engine.StageError", runErr)
		}
		errText = runErr.Error() + "\n"
	}
	check("error", errText)
	var dead strings.Builder
	if b, err := os.ReadFile(dl); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var d struct {
				Stage        string `json:"stage"`
				Error        string `json:"error"`
				RecordNumber int64  `json:"record_number"`
			}
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("dead letter line %q: %v", line, err)
			}
			fmt.Fprintf(&dead, "%d\t%s\t%s\n", d.RecordNumber, d.Stage, d.Error)
		}
	}
	check("dead_letter", dead.String())
	for _, st := range p.Stats() {
		// (After a failure stopped the run, a stage counted a whole batch in
		// but not the records after the failing one.)
		if runErr == nil && st.In != st.Passed+st.Dropped+st.Errors {
			t.Errorf("%s: in %d != passed %d + dropped %d + errors %d", st.Name, st.In, st.Passed, st.Dropped, st.Errors)
		}
	}
	return out.String()
}
