package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// /metrics carries passed and not processed, so that
// in = passed + dropped + failed + not processed holds there too.
func TestMetricsNotProcessed(t *testing.T) {
	fail := engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		if string(r.Data) == "2500" {
			return errors.New("bad")
		}
		emit(r)
		return nil
	})
	p, err := engine.Build(&engine.Spec{Stages: []engine.StageSpec{{Name: "judge", New: func() (engine.Transformer, error) { return fail, nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintln(&in, i)
	}
	_ = p.RunReader(context.Background(), strings.NewReader(in.String()), &bytes.Buffer{})
	s := newPromSet()
	newStageCollector(p, "t").collect(s)
	families := parseProm(t, s)
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" && l.GetValue() == "judge" && m.GetCounter() != nil {
					got[f.GetName()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	in0, passed, failed, np := got["pipe_stage_records_in_total"], got["pipe_stage_records_passed_total"], got["pipe_stage_records_failed_total"], got["pipe_stage_records_not_processed_total"]
	if np == 0 || in0 != passed+got["pipe_stage_records_dropped_total"]+failed+np {
		t.Errorf("metrics do not account for the records: %v", got)
	}
}
