package native

import (
	"bytes"
	"context"
	"strings"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "trim", New: newTrim, Config: trimConfig{},
		Summary: "trim white space (or cutset:) around the record or a JSON string field",
		Examples: []component.Example{
			{Title: "trim lines", YAML: "- {name: trim, type: native, use: trim}"},
			{Title: "strip quotes around a field", YAML: "- {name: unquote, type: native, use: trim, config: {field: name, cutset: '\"'}}"},
		}})
}

type trimConfig struct {
	Cutset string `yaml:"cutset" example:"'\"'" doc:"Characters to trim instead of Unicode white space."`
	Field  string `yaml:"field" example:"name" doc:"Dotted path of a JSON string field to trim instead of the whole record (codec: ndjson)."`
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
	err := editString(r, t.field, func(s string) string {
		if t.cutset == "" {
			return strings.TrimSpace(s)
		}
		return strings.Trim(s, t.cutset)
	})
	if err != nil {
		return err
	}
	emit(r)
	return nil
}

var _ engine.Transformer = (*Trim)(nil)
