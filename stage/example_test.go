package stage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pipe-dev/pipe/stage"
)

// A transformer that splits a record on commas, drops empty parts and
// fails a record holding "bad".
func ExampleTransformerFunc() {
	split := stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		if bytes.Contains(r.Data, []byte("bad")) {
			return errors.New("bad record")
		}
		for part := range bytes.SplitSeq(r.Data, []byte(",")) {
			if len(part) > 0 {
				emit(r.Derive(part)) // carries r's metadata and record number
			}
		}
		return nil
	})
	in := stage.NewRecord([]byte("a,,b"))
	in.Set("src", "x")
	in.SetNumber(7)
	err := split.Transform(context.Background(), in, func(o *stage.Record) {
		fmt.Printf("%s src=%s number=%d\n", o.Data, o.Get("src"), o.Number())
	})
	fmt.Println(err)
	fmt.Println(split.Transform(context.Background(), stage.NewRecord([]byte("bad")), func(*stage.Record) {}))
	// Output:
	// a src=x number=7
	// b src=x number=7
	// <nil>
	// bad record
}

// upper is a BatchTransformer: one call per batch, results by input index.
type upper struct{}

func (upper) Transform(ctx context.Context, r *stage.Record, emit func(*stage.Record)) error {
	r.Data = bytes.ToUpper(r.Data)
	emit(r)
	return nil
}

func (u upper) TransformBatch(ctx context.Context, recs []*stage.Record, out *stage.BatchResult) error {
	for i, r := range recs {
		if len(r.Data) == 0 {
			out.Fail(i, errors.New("empty record"))
			continue
		}
		if err := u.Transform(ctx, r, func(o *stage.Record) { out.Emit(i, o) }); err != nil {
			out.Fail(i, err)
		}
	}
	return nil
}

// How a caller of TransformBatch (the engine, a test) reads a BatchResult.
func ExampleBatchResult() {
	recs := []*stage.Record{stage.NewRecord([]byte("a")), stage.NewRecord(nil), stage.NewRecord([]byte("c"))}
	var out stage.BatchResult
	out.Reset(len(recs))
	if err := (upper{}).TransformBatch(context.Background(), recs, &out); err != nil || out.Err() != nil {
		fmt.Println("the whole call failed")
		return
	}
	for k, r := range out.Records() {
		fmt.Printf("record %d emitted %s\n", out.Source(k), r.Data)
	}
	for k := range out.NumFailed() {
		i, err := out.Failed(k)
		fmt.Printf("record %d failed: %v\n", i, err)
	}
	// Output:
	// record 0 emitted A
	// record 2 emitted C
	// record 1 failed: empty record
}
