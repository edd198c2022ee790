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
	engine.RegisterNative(engine.Native{Name: "case", New: newCase,
		Summary: "upper- or lower-case the record or a JSON string field (to: upper|lower)"})
}

type caseConfig struct {
	To    string `yaml:"to"`
	Field string `yaml:"field"`
}

// Case changes the letter case of the record or of a JSON string field.
type Case struct {
	upper bool
	field string
}

func newCase(cfg engine.Config) (engine.Transformer, error) {
	var c caseConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	t := &Case{field: c.Field}
	switch c.To {
	case "upper":
		t.upper = true
	case "lower":
	default:
		return nil, cfg.Errorf("to", "to must be upper or lower, got %q", c.To)
	}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Transform implements engine.Transformer.
func (t *Case) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if t.field == "" {
		r.Data = t.apply(r.Data)
		emit(r)
		return nil
	}
	v, err := field(r.Data, t.field)
	if err != nil {
		return err
	}
	if v.Type == gjson.String {
		s := v.Str
		if t.upper {
			s = strings.ToUpper(s)
		} else {
			s = strings.ToLower(s)
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

// apply changes case in place for ASCII text, allocating only for other text.
func (t *Case) apply(b []byte) []byte {
	for _, c := range b {
		if c >= 0x80 {
			if t.upper {
				return bytes.ToUpper(b)
			}
			return bytes.ToLower(b)
		}
	}
	if t.upper {
		for i, c := range b {
			if 'a' <= c && c <= 'z' {
				b[i] = c - 32
			}
		}
	} else {
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 32
			}
		}
	}
	return b
}

var _ engine.Transformer = (*Case)(nil)
