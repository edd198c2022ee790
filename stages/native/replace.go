package native

import (
	"context"
	"regexp"

	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "replace", New: newReplace,
		Summary: "replace regexp matches (with: supports $1, ${name}); field: edits one JSON string field"})
}

type replaceConfig struct {
	Pattern string  `yaml:"pattern"`
	With    *string `yaml:"with"`
	Field   string  `yaml:"field"`
}

// Replace rewrites the matches of a regexp in the record or in a JSON field.
type Replace struct {
	re    *regexp.Regexp
	with  []byte
	field string
}

func newReplace(cfg engine.Config) (engine.Transformer, error) {
	var c replaceConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	re, err := compile(cfg, "pattern", c.Pattern)
	if err != nil {
		return nil, err
	}
	if c.With == nil {
		return nil, cfg.Errorf("", "replace needs with: (the replacement; \"\" deletes the matches)")
	}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	return &Replace{re: re, with: []byte(*c.With), field: c.Field}, nil
}

// Transform implements engine.Transformer.
func (t *Replace) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if t.field == "" {
		r.Data = t.re.ReplaceAll(r.Data, t.with)
		emit(r)
		return nil
	}
	v, err := field(r.Data, t.field)
	if err != nil {
		return err
	}
	if v.Exists() {
		out := t.re.ReplaceAllString(fieldText(v), string(t.with))
		if r.Data, err = sjson.SetBytes(r.Data, t.field, out); err != nil {
			return err
		}
	}
	emit(r)
	return nil
}

var _ engine.Transformer = (*Replace)(nil)
