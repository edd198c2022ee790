package native

import (
	"context"
	"regexp"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "replace", New: newReplace, Config: replaceConfig{},
		Summary: "replace regexp matches (with: supports $1, ${name}); field: edits one JSON string field",
		Doc: "Every match of `pattern` is replaced by `with`, in which `$1` and `${name}` refer to capture groups " +
			"(write `$$` for a dollar sign). With `field:` only that JSON field changes; a record without it passes unchanged.",
		Examples: []component.Example{
			{Title: "mask digits of a user id", YAML: "- {name: hide-user, type: native, use: replace, config: {field: user, pattern: '[0-9]', with: '*'}}"},
		}})
}

type replaceConfig struct {
	Pattern string  `yaml:"pattern" required:"true" example:"'[0-9]+'" doc:"Regular expression (Go RE2 syntax) whose matches are replaced."`
	With    *string `yaml:"with" required:"true" example:"'<$1>'" doc:"Replacement text; $1 and ${name} expand capture groups; an empty string deletes the matches."`
	Field   string  `yaml:"field" example:"user" doc:"Dotted path of a JSON field to edit instead of the whole record (codec: ndjson)."`
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
