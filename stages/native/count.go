package native

import (
	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "count", New: newCount, Config: countConfig{},
		Summary: "count records; at end of stream emit {\"count\":N}, or one {FIELD:value,\"count\":N} per value of by:",
		Doc: "Records are consumed; the counts are emitted when the input ends, values in first-seen order. At most " +
			"`max_keys` distinct values are kept; later new values are counted under `{\"other\":true}`. With `workers: N` " +
			"each instance counts its share. It is `aggregate` with one window over the whole input, `group_by: [BY]` " +
			"and `max_groups: MAX_KEYS`; use `aggregate` for windows and other functions. Its input records are acknowledged " +
			"only at the end of input, after the counts were written (a followed file's checkpoint does not advance before).",
		Examples: []component.Example{
			{Title: "errors per service", YAML: "- {name: per-service, type: native, use: count, config: {by: service}}"},
		}})
}

type countConfig struct {
	By      string `yaml:"by" example:"service" doc:"Dotted path of a JSON field: one count per distinct value."`
	MaxKeys int    `yaml:"max_keys" default:"100000" doc:"Distinct values kept; later new values count under other."`
}

// newCount builds count as a special case of aggregate: one window over
// the whole input, grouped by by:, counting records; without by: it emits
// {"count":0} for an empty input too.
func newCount(cfg engine.Config) (engine.Transformer, error) {
	var c countConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.By != "" {
		if err := checkPath(cfg, "by", c.By); err != nil {
			return nil, err
		}
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = 100_000
	}
	if c.MaxKeys < 1 {
		return nil, cfg.Errorf("max_keys", "max_keys must be at least 1")
	}
	ac := aggregateConfig{MaxGroups: c.MaxKeys, OnMaxGroups: "other", Late: "drop", MaxDistinct: 1, RelativeAccuracy: 0.01}
	if c.By != "" {
		ac.GroupBy = []string{c.By}
	}
	a, err := buildAggregate(cfg, ac)
	if err != nil {
		return nil, err
	}
	a.emitEmpty = c.By == ""
	return a, nil
}
