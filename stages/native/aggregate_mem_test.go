package native

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// BenchmarkAggregateGroups opens 100k groups (group_by one key, count and
// sum) and reports the heap each keeps (B/group) and the time per record.
func BenchmarkAggregateGroups(b *testing.B) {
	const groups = 100_000
	recs := make([]*engine.Record, groups)
	for i := range recs {
		recs[i] = engine.NewRecord([]byte(`{"k":` + strconv.Itoa(i*7919%1_000_000) + `,"v":1}`))
	}
	c := aggregateConfig{GroupBy: []string{"k"}, MaxGroups: groups, OnMaxGroups: "other", Late: "drop", MaxDistinct: 1,
		RelativeAccuracy: 0.01, Aggregates: []aggSpec{{Fn: "count"}, {Fn: "sum", Field: "v"}}}
	var perGroup float64
	for b.Loop() {
		a, err := buildAggregate(engine.Config{}, c)
		if err != nil {
			b.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for _, r := range recs {
			if err := a.Transform(context.Background(), r, func(*engine.Record) {}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perGroup = float64(m1.HeapAlloc-m0.HeapAlloc) / groups
		runtime.KeepAlive(a)
	}
	b.ReportMetric(perGroup, "B/group")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*groups), "ns/record")
}
