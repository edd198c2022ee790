package cli

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseProm writes s and reads it back with Prometheus's own text parser:
// what pipe serves must parse there.
func parseProm(t *testing.T, s *promSet) map[string]*dto.MetricFamily {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("%v in:\n%s", err, b.String())
	}
	return mfs
}

// The text format: families sorted by name with HELP and TYPE, labels
// sorted and escaped, histogram buckets cumulative with +Inf, summary
// quantiles, values in client_golang's float format.
func TestPromTextFormat(t *testing.T) {
	s := newPromSet()
	s.add("b_total", "B's help, with a \\ and\na newline.", promCounter, 3, "z", "last", "a", `quote " back \ nl `+"\n")
	s.add("b_total", "", promCounter, 1e7, "z", "first", "a", "x")
	s.add("a_gauge", "A gauge.", promGauge, math.Inf(1))
	s.histogram("c_seconds", "A histogram.", []float64{0.001, 0.5}, []uint64{1, 3}, 4, 2.5, "stage", "s")
	s.summary("d_seconds", "A summary.", []float64{0, 1}, []float64{0.25, 1e-05}, 2, 1.25)
	var b bytes.Buffer
	s.WriteTo(&b)
	want := `# HELP a_gauge A gauge.
# TYPE a_gauge gauge
a_gauge +Inf
# HELP b_total B's help, with a \\ and\na newline.
# TYPE b_total counter
b_total{a="quote \" back \\ nl \n",z="last"} 3
b_total{a="x",z="first"} 1e+07
# HELP c_seconds A histogram.
# TYPE c_seconds histogram
c_seconds_bucket{stage="s",le="0.001"} 1
c_seconds_bucket{stage="s",le="0.5"} 3
c_seconds_bucket{stage="s",le="+Inf"} 4
c_seconds_sum{stage="s"} 2.5
c_seconds_count{stage="s"} 4
# HELP d_seconds A summary.
# TYPE d_seconds summary
d_seconds{quantile="0"} 0.25
d_seconds{quantile="1"} 1e-05
d_seconds_sum 1.25
d_seconds_count 2
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	mfs := parseProm(t, s)
	if h := mfs["c_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 4 || len(h.GetBucket()) != 3 {
		t.Errorf("histogram parsed as %v", h)
	}
	if got := mfs["b_total"].GetMetric()[0].GetLabel()[0].GetValue(); got != `quote " back \ nl `+"\n" {
		t.Errorf("label value parsed as %q", got)
	}
}

// A scrape of a pipeline that ran has every family the metrics server
// served with client_golang: pipe's own, go_* and process_*, and parses.
func TestScrapeFamilies(t *testing.T) {
	spec, err := engine.Parse([]byte("stages:\n  - {name: t, type: native, use: trim}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.RunReader(context.Background(), strings.NewReader(" a \n b \n"), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	mfs := parseProm(t, scrape(newStageCollector(p, "t"), newDeliveryCollector(p, "t")))
	for _, name := range []string{
		"pipe_stage_records_in_total", "pipe_stage_batch_duration_seconds", "pipe_input_records_acked_total",
		"pipe_build_info", "pipe_audit_write_errors_total", "pipe_output_bytes_written_total",
		"go_goroutines", "go_threads", "go_info", "go_gc_duration_seconds", "go_memstats_heap_alloc_bytes",
		"go_memstats_sys_bytes", "go_memstats_last_gc_time_seconds", "go_sched_gomaxprocs_threads",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds",
		"process_start_time_seconds", "process_virtual_memory_bytes",
	} {
		if strings.HasPrefix(name, "process_") && runtime.GOOS != "linux" {
			continue // read from /proc
		}
		if mfs[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	value := func(name string) float64 {
		m := mfs[name].GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if v := value("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v := value("go_threads"); v < 1 {
		t.Errorf("go_threads = %v", v)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if v := value("process_resident_memory_bytes"); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
	if v := value("go_memstats_heap_alloc_bytes"); v <= 0 {
		t.Errorf("go_memstats_heap_alloc_bytes = %v", v)
	}
	for _, m := range mfs["pipe_stage_records_in_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["stage"] == "t" && (m.GetCounter().GetValue() != 2 || labels["kind"] != "native" || labels["pipeline"] != "t") {
			t.Errorf("pipe_stage_records_in_total of t: %v %v", labels, m.GetCounter().GetValue())
		}
	}
}
