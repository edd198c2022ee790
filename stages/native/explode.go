package native

import (
	"context"
	"fmt"

	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "explode", New: newExplode,
		Summary: "one record per element of a JSON array field (as: puts the element in another field)"})
}

type explodeConfig struct {
	Field string `yaml:"field"`
	As    string `yaml:"as"`
}

// Explode splits a record into one record per element of an array field.
// A record whose field is missing, null or an empty array emits nothing; a
// field that is not an array fails the record.
type Explode struct{ field, as string }

func newExplode(cfg engine.Config) (engine.Transformer, error) {
	var c explodeConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := checkPath(cfg, "field", c.Field); err != nil {
		return nil, err
	}
	if c.As != "" {
		if err := checkPath(cfg, "as", c.As); err != nil {
			return nil, err
		}
	}
	return &Explode{field: c.Field, as: c.As}, nil
}

// Transform implements engine.Transformer.
func (e *Explode) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	v, err := field(r.Data, e.field)
	if err != nil {
		return err
	}
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		return fmt.Errorf("field %s is not an array", e.field)
	}
	base := r.Data
	target := e.field
	if e.as != "" && e.as != e.field {
		if base, err = sjson.DeleteBytes(r.Data, e.field); err != nil {
			return err
		}
		target = e.as
	}
	v.ForEach(func(_, el gjson.Result) bool {
		var out []byte
		out, err = sjson.SetRawBytes(append([]byte(nil), base...), target, []byte(el.Raw))
		if err != nil {
			return false
		}
		emit(r.Derive(out))
		return true
	})
	return err
}

var _ engine.Transformer = (*Explode)(nil)
