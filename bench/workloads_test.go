package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
)

// expected computes W0-W3 of shared/bench/README.md in plain Go.
func expected(t *testing.T, w string, in []byte) []any {
	var out []any
	for _, line := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
		var rec map[string]any
		if w != "W0" && w != "W2" {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
		}
		switch w {
		case "W0":
			out = append(out, line)
		case "W2":
			out = append(out, strings.ToUpper(line))
		case "W1":
			if rec["level"] == "error" {
				rec["msg"] = strings.ToUpper(rec["msg"].(string))
				rec["processed"] = true
				out = append(out, rec)
			}
		case "W4": // logfmt parsed back: the record without its tags
			delete(rec, "tags")
			out = append(out, rec)
		case "W3":
			tags, _ := rec["tags"].([]any)
			delete(rec, "tags")
			for _, tag := range tags {
				c := map[string]any{}
				for k, v := range rec {
					c[k] = v
				}
				c["tag"] = tag
				out = append(out, c)
			}
		}
	}
	return out
}

// TestWorkloads checks every kind's workload files: their output is W0-W3
// computed independently, record for record (as JSON for W1 and W3), with
// 1 and 2 workers. A kind not built into pipe, or without its fixtures, is
// skipped with the reason.
func TestWorkloads(t *testing.T) {
	var data bytes.Buffer
	if err := gendata.Write(&data, 5000, 42); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("workloads/*/w*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d workload files", len(files))
	}
	for _, f := range files {
		w := strings.ToUpper(strings.TrimSuffix(filepath.Base(f), ".yaml"))
		if w == "W4C" || w == "W4G" || w == "W5" {
			continue // TestWorkloadsW4CW5
		}
		want := expected(t, w, data.Bytes())
		in := workloadInput(t, w, data.Bytes())
		for _, workers := range []string{"1", "2"} {
			t.Run(filepath.Base(filepath.Dir(f))+"/"+w+"/workers="+workers, func(t *testing.T) {
				yaml, _ := os.ReadFile(f)
				spec, err := engine.Parse(yaml, f, engine.WithEnv(func(k string) (string, bool) {
					if k == "WORKERS" {
						return workers, true
					}
					return os.LookupEnv(k)
				}))
				if err != nil {
					t.Fatal(err)
				}
				p, err := engine.Build(spec)
				if err == nil {
					err = p.Load(context.Background())
				}
				if err != nil {
					t.Skipf("not runnable here: %v", err)
				}
				defer p.Close()
				var out bytes.Buffer
				if err := p.RunReader(context.Background(), bytes.NewReader(in), &out); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				if len(lines) != len(want) {
					t.Fatalf("%d records out, want %d", len(lines), len(want))
				}
				for i, l := range lines {
					var got any = l
					if w == "W1" || w == "W3" || w == "W4" {
						var m map[string]any
						if err := json.Unmarshal([]byte(l), &m); err != nil {
							t.Fatalf("record %d is not JSON: %q", i, l)
						}
						got = m
					}
					if !reflect.DeepEqual(got, want[i]) {
						t.Fatalf("record %d = %v\nwant %v", i, got, want[i])
					}
				}
			})
		}
	}
}
