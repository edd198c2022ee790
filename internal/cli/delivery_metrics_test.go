package cli

import (
	"context"
	"testing"

	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
)

func TestDeliveryMetrics(t *testing.T) {
	in := connectortest.NewInput([]string{"a", "b"}, []string{"c"})
	out := connectortest.NewOutput()
	out.FailTimes(2)
	reg := engine.NewRegistry()
	reg.RegisterInput(in.Type("mem"))
	reg.RegisterOutput(out.Type("mem"))
	spec, err := engine.Parse([]byte("input: {type: mem}\noutput: {type: mem, retry: {initial: 1ms, max: 1ms}}\n"), "p.yaml", engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	s := newPromSet()
	newDeliveryCollector(p, "t").collect(s)
	mfs := parseProm(t, s)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				got[mf.GetName()] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[mf.GetName()] = m.Gauge.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"pipe_output_retries_total":       2,
		"pipe_input_records_acked_total":  3,
		"pipe_input_ack_watermark":        3,
		"pipe_input_acks_pending":         0,
		"pipe_output_failing":             0,
		"pipe_input_records_nacked_total": 0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
