package native

import (
	"context"
	"regexp"

	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "grep", New: newGrep,
		Summary: "keep records matching a regexp (invert: true drops them); field: matches one JSON field"})
}

type grepConfig struct {
	Pattern string `yaml:"pattern"`
	Invert  bool   `yaml:"invert"`
	Field   string `yaml:"field"`
}

// Grep keeps the records whose text (or JSON field) matches Pattern.
type Grep struct {
	re     *regexp.Regexp
	invert bool
	field  string
}

func newGrep(cfg engine.Config) (engine.Transformer, error) {
	var c grepConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	re, err := compile(cfg, "pattern", c.Pattern)
	if err != nil {
		return nil, err
	}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	return &Grep{re: re, invert: c.Invert, field: c.Field}, nil
}

// Transform implements engine.Transformer.
func (g *Grep) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	var ok bool
	if g.field == "" {
		ok = g.re.Match(r.Data)
	} else {
		v, err := field(r.Data, g.field)
		if err != nil {
			return err
		}
		ok = v.Exists() && g.re.MatchString(fieldText(v))
	}
	if ok != g.invert {
		emit(r)
	}
	return nil
}

var _ engine.Transformer = (*Grep)(nil)
