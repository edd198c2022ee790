package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

var updateCodecs = flag.Bool("update-codecs", false, "rewrite the expected files of testdata/codecs")

// TestCodecGolden runs the cases of testdata/codecs (the csv and logfmt
// codecs): each folder holds a pipeline.yaml, an input, the expected
// output and, when records fail, dead_letter (number, stage and error of
// each dead-lettered record) or error (the run's error).
func TestCodecGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/codecs/*/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("%d golden cases, want at least 10", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) { runCodecGolden(t, dir) })
	}
}

func runCodecGolden(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse(data, filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dl := filepath.Join(t.TempDir(), "dead.ndjson")
	if spec.DeadLetter != nil {
		spec.DeadLetter.Path = dl
	}
	p, err := engine.Build(spec)
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
		if *updateCodecs {
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
	// Accounting: what came in is what went out, failed or was dropped.
	for _, st := range p.Stats() {
		if st.In != st.Passed+st.Dropped+st.Errors {
			t.Errorf("%s: in %d != passed %d + dropped %d + errors %d", st.Name, st.In, st.Passed, st.Dropped, st.Errors)
		}
	}
}
