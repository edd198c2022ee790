package native_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	"github.com/tidwall/sjson"
)

// conformance registers one Go transformer per case, the way a user would
// write them, in a registry of its own.
func conformanceRegistry() *engine.Registry {
	reg := engine.NewRegistry()
	simple := func(f engine.TransformerFunc) engine.NativeFunc {
		return func(engine.Config) (engine.Transformer, error) { return f, nil }
	}
	reg.Register("identity", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		emit(r)
		return nil
	}))
	reg.Register("upper", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		r.Data = bytes.ToUpper(r.Data)
		emit(r)
		return nil
	}))
	reg.Register("drop", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		if !bytes.HasPrefix(r.Data, []byte("#")) {
			emit(r)
		}
		return nil
	}))
	reg.Register("split", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		for part := range bytes.SplitSeq(r.Data, []byte(",")) {
			emit(r.Derive(part))
		}
		return nil
	}))
	reg.Register("meta", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		r.Set("out", r.Get("in")+"!")
		r.Delete("gone")
		emit(r)
		return nil
	}))
	reg.Register("fail", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		if string(r.Data) == "bad" {
			return errors.New("bad record")
		}
		emit(r)
		return nil
	}))
	reg.Register("init", func(cfg engine.Config) (engine.Transformer, error) {
		var c struct {
			Prefix string `yaml:"prefix"`
		}
		if err := cfg.Decode(&c); err != nil {
			return nil, err
		}
		return engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
			r.Data = append([]byte(c.Prefix), r.Data...)
			emit(r)
			return nil
		}), nil
	})
	reg.Register("flush", func(engine.Config) (engine.Transformer, error) { return &counter{}, nil })
	reg.Register("hang", simple(func(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
		if string(r.Data) == "hang" {
			<-ctx.Done() // native code is cooperative: it honours ctx
			return ctx.Err()
		}
		emit(r)
		return nil
	}))
	reg.Register("json", simple(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		out, err := sjson.SetBytes(r.Data, "seen", true)
		if err != nil {
			return err
		}
		r.Data = out
		emit(r)
		return nil
	}))
	return reg
}

type counter struct{ n int }

func (c *counter) Transform(context.Context, *engine.Record, func(*engine.Record)) error {
	c.n++
	return nil
}

func (c *counter) Flush(_ context.Context, emit func(*engine.Record)) error {
	emit(engine.NewRecord(fmt.Appendf(nil, "count=%d", c.n)))
	return nil
}

func TestConformance(t *testing.T) {
	reg := conformanceRegistry()
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		return engine.StageSpec{Type: "native", Use: strings.ToLower(string(c))}
	}, enginetest.Options{Registry: reg})
}

// batchAdapter serves a Transformer through the BatchTransformer fast path,
// so the suite also covers the engine's batch handling (culprit finding on
// a batch-level timeout, per-record failures in a batch result).
type batchAdapter struct{ engine.Transformer }

func (b batchAdapter) TransformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult) error {
	for i, r := range recs {
		if ctx.Err() != nil {
			return ctx.Err() // the whole call failed: the engine re-runs record by record
		}
		if err := b.Transform(ctx, r, func(o *engine.Record) { out.Emit(i, o) }); err != nil {
			out.Fail(i, err)
		}
	}
	return ctx.Err()
}

func TestConformanceBatchPath(t *testing.T) {
	base := conformanceRegistry()
	reg := engine.NewRegistry()
	for _, n := range base.Natives() {
		reg.Register(n.Name, func(cfg engine.Config) (engine.Transformer, error) {
			t, err := n.New(cfg)
			if err != nil {
				return nil, err
			}
			if f, ok := t.(engine.Flusher); ok {
				return struct {
					batchAdapter
					engine.Flusher
				}{batchAdapter{t}, f}, nil
			}
			return batchAdapter{t}, nil
		})
	}
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		return engine.StageSpec{Type: "native", Use: strings.ToLower(string(c))}
	}, enginetest.Options{Registry: reg})
}
