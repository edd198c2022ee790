// Package wl holds the code of the benchmark workloads W1, W2 and W3
// (shared/bench/README.md) as a user would write a Go plugin: gjson to
// read, sjson to write. The plugins w1, w2 and w3 export it; benchhost
// compiles the same code into a pipe binary, so that the two can be
// compared with nothing but the .so boundary between them.
package wl

import (
	"bytes"
	"context"
	"errors"

	"github.com/pipe-dev/pipe/stage"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

func noConfig(cfg stage.Config) error {
	var c struct{}
	return cfg.Decode(&c)
}

// NewW1 keeps records with level == "error", upper-cases msg and adds
// "processed": true.
func NewW1(cfg stage.Config) (stage.Transformer, error) {
	if err := noConfig(cfg); err != nil {
		return nil, err
	}
	return stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		if gjson.GetBytes(r.Data, "level").Str != "error" {
			return nil
		}
		msg := gjson.GetBytes(r.Data, "msg")
		out, err := sjson.SetBytes(r.Data, "msg", bytes.ToUpper([]byte(msg.Str)))
		if err != nil {
			return err
		}
		if out, err = sjson.SetBytes(out, "processed", true); err != nil {
			return err
		}
		r.Data = out
		emit(r)
		return nil
	}), nil
}

// NewW2 upper-cases the whole record.
func NewW2(cfg stage.Config) (stage.Transformer, error) {
	if err := noConfig(cfg); err != nil {
		return nil, err
	}
	return stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		r.Data = bytes.ToUpper(r.Data)
		emit(r)
		return nil
	}), nil
}

// NewW3 emits one record per element of tags, with tag set to it and tags
// removed.
func NewW3(cfg stage.Config) (stage.Transformer, error) {
	if err := noConfig(cfg); err != nil {
		return nil, err
	}
	return stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
		tags := gjson.GetBytes(r.Data, "tags")
		if !tags.Exists() || tags.Type == gjson.Null {
			return nil
		}
		if !tags.IsArray() {
			return errors.New("tags is not an array")
		}
		base, err := sjson.DeleteBytes(r.Data, "tags")
		if err != nil {
			return err
		}
		for _, tag := range tags.Array() {
			out, err := sjson.SetRawBytes(bytes.Clone(base), "tag", []byte(tag.Raw))
			if err != nil {
				return err
			}
			emit(r.Derive(out))
		}
		return nil
	}), nil
}
