// Command cases is a Go plugin implementing the conformance cases of
// engine/enginetest (config case: NAME; prefix: P for the init case) and
// the misbehaviours the loader must survive (case: ctor_error, ctor_panic,
// panic, nil). batch: true serves the case through BatchTransformer.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pipe-dev/pipe/stage"
	"github.com/tidwall/sjson"
)

var PipeAPIVersion = stage.APIVersion

// variant lets a test build a second, different file from this package
// (go build -ldflags=-X=main.variant=b).
var variant string

func New(cfg stage.Config) (stage.Transformer, error) {
	var c struct {
		Case   string `yaml:"case"`
		Prefix string `yaml:"prefix"`
		Batch  bool   `yaml:"batch"`
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	var t stage.Transformer
	f := func(fn stage.TransformerFunc) { t = fn }
	switch c.Case {
	case "", "init":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Data = append([]byte(c.Prefix), r.Data...)
			emit(r)
			return nil
		})
	case "variant":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			emit(r.Derive([]byte(variant)))
			return nil
		})
	case "identity":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			emit(r)
			return nil
		})
	case "upper":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Data = bytes.ToUpper(r.Data)
			emit(r)
			return nil
		})
	case "drop":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if !bytes.HasPrefix(r.Data, []byte("#")) {
				emit(r)
			}
			return nil
		})
	case "split":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			for part := range bytes.SplitSeq(r.Data, []byte(",")) {
				emit(r.Derive(part))
			}
			return nil
		})
	case "meta":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Set("out", r.Get("in")+"!")
			r.Delete("gone")
			emit(r)
			return nil
		})
	case "fail":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "bad" {
				return errors.New("bad record")
			}
			emit(r)
			return nil
		})
	case "flush":
		t = &counter{}
	case "hang":
		f(func(ctx context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "hang" {
				<-ctx.Done() // native code is cooperative: it honours ctx
				return ctx.Err()
			}
			emit(r)
			return nil
		})
	case "json":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			out, err := sjson.SetBytes(r.Data, "seen", true)
			if err != nil {
				return err
			}
			r.Data = out
			emit(r)
			return nil
		})
	case "panic":
		f(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "boom" {
				panic("boom in Transform")
			}
			emit(r)
			return nil
		})
	case "ctor_error":
		return nil, errors.New("the constructor refuses")
	case "ctor_panic":
		panic("the constructor panics")
	case "nil":
		return nil, nil
	default:
		return nil, fmt.Errorf("unknown case %q", c.Case)
	}
	if c.Batch {
		if fl, ok := t.(stage.Flusher); ok {
			return struct {
				batch
				stage.Flusher
			}{batch{t}, fl}, nil
		}
		return batch{t}, nil
	}
	return t, nil
}

type counter struct{ n int }

func (c *counter) Transform(context.Context, *stage.Record, func(*stage.Record)) error {
	c.n++
	return nil
}

func (c *counter) Flush(_ context.Context, emit func(*stage.Record)) error {
	emit(stage.NewRecord(fmt.Appendf(nil, "count=%d", c.n)))
	return nil
}

// batch serves a Transformer through the BatchTransformer fast path.
type batch struct{ stage.Transformer }

func (b batch) TransformBatch(ctx context.Context, recs []*stage.Record, out *stage.BatchResult) error {
	for i, r := range recs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := b.Transform(ctx, r, func(o *stage.Record) { out.Emit(i, o) }); err != nil {
			out.Fail(i, err)
		}
	}
	return ctx.Err()
}
