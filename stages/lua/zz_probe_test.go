package lua_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

func BenchmarkProbe(b *testing.B) {
	var data bytes.Buffer
	gendata.Write(&data, 1024, 42)
	lines := bytes.Split(bytes.TrimSuffix(data.Bytes(), []byte("\n")), []byte("\n"))
	for _, w := range []scripttest.Workload{
		{Name: "nil", JSON: true, Code: "return nil"},
		{Name: "rec", JSON: true, Code: "return rec"},
		{Name: "read", JSON: true, Code: "local tags = rec.tags return nil"},
		{Name: "readdel", JSON: true, Code: "local tags = rec.tags rec.tags = nil return nil"},
		{Name: "loop", JSON: true, Code: "local tags = rec.tags rec.tags = nil for _, t in ipairs(tags) do rec.tag = t end return nil"},
		{Name: "w3", JSON: true, Code: "local tags = rec.tags rec.tags = nil for _, t in ipairs(tags) do rec.tag = t emit(rec) end"},
		{Name: "lnil", JSON: false, Code: "return nil"},
		{Name: "lrec", JSON: false, Code: "return rec"},
		{Name: "w2", JSON: false, Code: "return string.upper(rec)"},
	} {
		b.Run(w.Name, func(b *testing.B) {
			t := scripttest.NewInstance(b, "lua", w.JSON, w.Code)
			bt := t.(engine.BatchTransformer)
			recs := make([]*engine.Record, len(lines))
			var res engine.BatchResult
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				for i, l := range lines {
					recs[i] = engine.NewRecord(l)
				}
				b.StartTimer()
				res.Reset(len(recs))
				if err := bt.TransformBatch(context.Background(), recs, &res); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
}
