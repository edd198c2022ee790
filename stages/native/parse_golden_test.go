package native_test

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

var update = flag.Bool("update", false, "rewrite the expected files of testdata/parse")

// TestParseGolden runs the cases of testdata/parse: each folder holds a
// pipeline.yaml, an input, the expected output and, when records fail,
// dead_letter (the record number and error of each dead-lettered record)
// or error (the text of the run's error under on_error: fail).
func TestParseGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/parse/*/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 20 {
		t.Fatalf("%d golden cases, want at least 20", len(dirs))
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) { runGolden(t, dir) })
	}
}

func runGolden(t *testing.T, dir string) {
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

	// Every output line is valid JSON when the output is a parse stage's.
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("output line %d is not valid JSON: %s", i+1, line)
		}
	}
	check := func(name, got string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if *update {
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
				Record       string `json:"record"`
				RecordNumber int64  `json:"record_number"`
			}
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("dead letter line %q: %v", line, err)
			}
			fmt.Fprintf(&dead, "%d\t%s\t%s\n", d.RecordNumber, d.Stage, d.Error)
		}
	}
	check("dead_letter", dead.String())
}
