package native

import (
	"bytes"
	"context"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "trim", New: newTrim,
		Summary: "trim white space (or cutset:) around the record or a JSON string field"})
}

type trimConfig struct {
	Cutset string `yaml:"cutset"`
	Field  string `yaml:"field"`
}

// Trim removes leading and trailing white space (or the cutset's characters).
type Trim struct{ cutset, field string }

func newTrim(cfg engine.Config) (engine.Transformer, error) {
	var c trimConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	return &Trim{cutset: c.Cutset, field: c.Field}, nil
}

// Transform implements engine.Transformer.
func (t *Trim) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if t.field == "" {
		if t.cutset == "" {
			r.Data = bytes.TrimSpace(r.Data)
		} else {
			r.Data = bytes.Trim(r.Data, t.cutset)
		}
		emit(r)
		return nil
	}
	v, err := field(r.Data, t.field)
	if err != nil {
		return err
	}
	if v.Type == gjson.String {
		s := strings.TrimSpace(v.Str)
		if t.cutset != "" {
			s = strings.Trim(v.Str, t.cutset)
		}
		if s != v.Str {
			if r.Data, err = sjson.SetBytes(r.Data, t.field, s); err != nil {
				return err
			}
		}
	}
	emit(r)
	return nil
}

var _ engine.Transformer = (*Trim)(nil)
