package native

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "count", New: newCount, Config: countConfig{},
		Summary: "count records; at end of stream emit {\"count\":N}, or one {FIELD:value,\"count\":N} per value of by:",
		Doc: "Records are consumed; the counts are emitted when the input ends, values in first-seen order. At most " +
			"`max_keys` distinct values are kept; later new values are counted under `{\"other\":true}`. With `workers: N` " +
			"each instance counts its share.",
		Examples: []component.Example{
			{Title: "errors per service", YAML: "- {name: per-service, type: native, use: count, config: {by: service}}"},
		}})
}

// Count consumes records and emits counts at flush: {"count":N}, or with By
// one record per distinct value in first-seen order. At most MaxKeys
// distinct values are kept; later new values are counted under
// {"other":true}. With workers: N each instance counts its share.
type Count struct {
	by      string
	maxKeys int
	total   int64
	order   []string // raw JSON of each value, first seen first
	counts  map[string]int64
	other   int64
}

type countConfig struct {
	By      string `yaml:"by" example:"service" doc:"Dotted path of a JSON field: one count per distinct value."`
	MaxKeys int    `yaml:"max_keys" default:"100000" doc:"Distinct values kept; later new values count under other."`
}

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
	return &Count{by: c.By, maxKeys: c.MaxKeys, counts: map[string]int64{}}, nil
}

// Transform implements engine.Transformer.
func (c *Count) Transform(_ context.Context, r *engine.Record, _ func(*engine.Record)) error {
	c.total++
	if c.by == "" {
		return nil
	}
	v, err := field(r.Data, c.by)
	if err != nil {
		return err
	}
	key := v.Raw
	if !v.Exists() {
		key = "null"
	}
	if _, ok := c.counts[key]; !ok {
		if len(c.order) >= c.maxKeys {
			c.other++
			return nil
		}
		c.order = append(c.order, key)
	}
	c.counts[key]++
	return nil
}

// Flush implements engine.Flusher.
func (c *Count) Flush(_ context.Context, emit func(*engine.Record)) error {
	if c.by == "" {
		emit(engine.NewRecord(append(strconv.AppendInt([]byte(`{"count":`), c.total, 10), '}')))
		return nil
	}
	name, _ := json.Marshal(c.by)
	for _, k := range c.order {
		b := append([]byte{'{'}, name...)
		b = append(b, ':')
		b = append(b, k...)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, c.counts[k], 10)
		emit(engine.NewRecord(append(b, '}')))
	}
	if c.other > 0 {
		emit(engine.NewRecord(append(strconv.AppendInt([]byte(`{"other":true,"count":`), c.other, 10), '}')))
	}
	return nil
}

var (
	_ engine.Transformer = (*Count)(nil)
	_ engine.Flusher     = (*Count)(nil)
)
