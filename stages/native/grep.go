package native

import (
	"context"
	"regexp"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "grep", New: newGrep, Config: grepConfig{},
		Summary: "keep records matching a regexp (invert: true drops them); field: matches one JSON field",
		Doc: "Without `field:` the regexp (Go RE2 syntax) is matched against the whole record. With `field:` it is matched " +
			"against one JSON field's text (a string's value, any other value's JSON); a record without the field is dropped " +
			"(kept with `invert: true`).",
		Examples: []component.Example{
			{Title: "keep lines mentioning a timeout", YAML: "- {name: timeouts, type: native, use: grep, config: {pattern: '(?i)timeout'}}"},
			{Title: "drop health checks by a JSON field", YAML: "- {name: no-health, type: native, use: grep, config: {field: path, pattern: '^/health', invert: true}}"},
		}})
}

type grepConfig struct {
	Pattern string `yaml:"pattern" required:"true" example:"'error|warn'" doc:"Regular expression (Go RE2 syntax) a kept record matches."`
	Invert  bool   `yaml:"invert" default:"false" doc:"Keep the records that do not match instead."`
	Field   string `yaml:"field" example:"msg" doc:"Dotted path of a JSON field to match instead of the whole record (codec: ndjson)."`
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
