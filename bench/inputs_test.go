package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
)

// workloadsData is the data of the workload tests: 5000 records (seed 42).
func workloadsData(t *testing.T) []byte {
	var data bytes.Buffer
	if err := gendata.Write(&data, 5000, 42); err != nil {
		t.Fatal(err)
	}
	return data.Bytes()
}

// workloadInput returns the input of workload w from the generator's
// NDJSON records: W4 reads them rendered as logfmt (without tags), W4C and
// W4G as combined-log lines; the others read them as they are. bench/run.sh
// renders the same way (logfmt with pipe's logfmt output codec, combined
// log with jq).
func workloadInput(tb testing.TB, w string, data []byte) []byte {
	switch w {
	case "W4":
		spec, err := engine.Parse([]byte(renderLogfmt), "render.yaml")
		if err != nil {
			tb.Fatal(err)
		}
		p, err := engine.Build(spec)
		if err != nil {
			tb.Fatal(err)
		}
		var out bytes.Buffer
		if err := p.RunReader(context.Background(), bytes.NewReader(data), &out); err != nil {
			tb.Fatal(err)
		}
		return out.Bytes()
	case "W4C", "W4G":
		var out bytes.Buffer
		for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'}) {
			var r genRecord
			if err := json.Unmarshal(line, &r); err != nil {
				tb.Fatal(err)
			}
			ts, err := time.Parse(time.RFC3339Nano, r.TS)
			if err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintf(&out, "10.0.%d.%d - %s [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"pipe-bench/1.0\"\n", i/250%250, i%250,
				r.User, ts.Format("02/Jan/2006:15:04:05 -0700"), r.Method, r.Path, r.Status, len(r.Msg))
		}
		return out.Bytes()
	}
	return data
}

// renderLogfmt turns the generator's records into logfmt lines.
const renderLogfmt = `input: {codec: ndjson}
output: {codec: logfmt}
stages: [{name: flat, type: native, use: delete, config: {field: tags}}]
`

type genRecord struct {
	TS        string  `json:"ts"`
	Service   string  `json:"service"`
	Method    string  `json:"method"`
	Path      string  `json:"path"`
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	User      string  `json:"user"`
	Msg       string  `json:"msg"`
}

// TestWorkloadsW4CW5 checks the outputs of W4C and W4G (combined-log lines
// parsed with a regular expression, and with grok) and W5 (count and p99
// per service per second) against the generator's records, computed
// independently.
func TestWorkloadsW4CW5(t *testing.T) {
	data := workloadsData(t)
	var recs []genRecord
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'}) {
		var r genRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	t.Run("W4C", func(t *testing.T) {
		out := runWorkload(t, "workloads/native/w4c.yaml", workloadInput(t, "W4C", data))
		if len(out) != len(recs) {
			t.Fatalf("%d records out, want %d", len(out), len(recs))
		}
		for i, line := range out {
			var g struct {
				User, Method, Path string
				Status, Bytes      int
			}
			if err := json.Unmarshal([]byte(line), &g); err != nil {
				t.Fatalf("record %d: %q: %v", i, line, err)
			}
			r := recs[i]
			if g.User != r.User || g.Method != r.Method || g.Path != r.Path || g.Status != r.Status || g.Bytes != len(r.Msg) {
				t.Fatalf("record %d = %s, want user %s, %s %s, status %d, bytes %d", i, line, r.User, r.Method, r.Path, r.Status, len(r.Msg))
			}
		}
	})
	t.Run("W4G", func(t *testing.T) {
		out := runWorkload(t, "workloads/native/w4g.yaml", workloadInput(t, "W4G", data))
		if len(out) != len(recs) {
			t.Fatalf("%d records out, want %d", len(out), len(recs))
		}
		for i, line := range out {
			var g struct {
				User struct{ Name string }
				HTTP struct {
					Request  struct{ Method string }
					Response struct {
						StatusCode int `json:"status_code"`
					}
				}
				URL struct{ Original string }
			}
			if err := json.Unmarshal([]byte(line), &g); err != nil {
				t.Fatalf("record %d: %q: %v", i, line, err)
			}
			r := recs[i]
			if g.User.Name != r.User || g.HTTP.Request.Method != r.Method || g.URL.Original != r.Path || g.HTTP.Response.StatusCode != r.Status {
				t.Fatalf("record %d = %s, want user %s, %s %s, status %d", i, line, r.User, r.Method, r.Path, r.Status)
			}
		}
	})
	t.Run("W5", func(t *testing.T) {
		type key struct{ sec, svc string }
		vals := map[key][]float64{}
		for _, r := range recs {
			k := key{r.TS[:19] + "Z", r.Service}
			vals[k] = append(vals[k], r.LatencyMS)
		}
		out := runWorkload(t, "workloads/native/w5.yaml", data)
		if len(out) != len(vals) {
			t.Fatalf("%d windows and services out, want %d", len(out), len(vals))
		}
		for _, line := range out {
			var g struct {
				Start string  `json:"window_start"`
				Svc   string  `json:"service"`
				Count int     `json:"count"`
				P99   float64 `json:"p99_latency_ms"`
			}
			if err := json.Unmarshal([]byte(line), &g); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			v := vals[key{g.Start, g.Svc}]
			if len(v) == 0 || g.Count != len(v) {
				t.Fatalf("%s: want a count of %d", line, len(v))
			}
			slices.Sort(v)
			exact := v[int(0.99*float64(len(v)-1))]
			if math.Abs(g.P99-exact) > 0.01*exact {
				t.Fatalf("%s: p99 %v, exact %v: more than 1%% off", line, g.P99, exact)
			}
		}
	})
}

func runWorkload(t *testing.T, file string, in []byte) []string {
	t.Helper()
	yaml, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse(yaml, file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Skipf("not runnable here: %v", err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}
