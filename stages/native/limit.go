package native

import (
	"context"
	"hash/maphash"
	"math/rand/v2"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "limit", New: newLimit, Config: limitConfig{},
		Summary:  "pass the first count records, drop the rest (per worker: use workers: 1)",
		Examples: []component.Example{{Title: "the first ten records", YAML: "- {name: head, type: native, use: limit, config: {count: 10}}"}}})
	engine.RegisterNative(engine.Native{Name: "sample", New: newSample, Config: sampleConfig{},
		Summary: "keep a random fraction (rate: 0.1, seed: for repeatable runs) or every Nth record (every: N)",
		Doc:     "Give `rate:` or `every:`, not both.",
		Examples: []component.Example{
			{Title: "one record in a hundred, the same ones every run", YAML: "- {name: sample, type: native, use: sample, config: {rate: 0.01, seed: 42}}"},
			{Title: "every tenth record", YAML: "- {name: tenth, type: native, use: sample, config: {every: 10}}"},
		}})
	engine.RegisterNative(engine.Native{Name: "dedupe", New: newDedupe, Config: dedupeConfig{},
		Summary: "drop records seen among the last capacity distinct records (whole record or field:)",
		Doc: "Memory is bounded: it keeps 8-byte hashes of the last `capacity` distinct keys, not the records; a 64-bit " +
			"hash collision (about 1 in 10^19 per pair) would drop a distinct record.",
		Examples: []component.Example{{Title: "one record per request id", YAML: "- {name: once, type: native, use: dedupe, config: {field: request_id}}"}}})
}

// Limit passes the first Count records and drops the rest.
type Limit struct{ left int64 }

type limitConfig struct {
	Count *int64 `yaml:"count" required:"true" example:"10" doc:"Records to pass (0 passes none)."`
}

func newLimit(cfg engine.Config) (engine.Transformer, error) {
	var c limitConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.Count == nil || *c.Count < 0 {
		return nil, cfg.Errorf("count", "limit needs count: N (N >= 0)")
	}
	return &Limit{left: *c.Count}, nil
}

// Transform implements engine.Transformer.
func (l *Limit) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if l.left > 0 {
		l.left--
		emit(r)
	}
	return nil
}

// Sample keeps a random fraction of the records, or every Nth.
type Sample struct {
	rate  float64
	every int64
	n     int64
	rng   *rand.Rand
}

type sampleConfig struct {
	Rate  *float64 `yaml:"rate" example:"0.1" doc:"Fraction of the records to keep, 0 to 1, chosen at random."`
	Every int64    `yaml:"every" example:"10" doc:"Keep the first record of every N."`
	Seed  *uint64  `yaml:"seed" example:"42" doc:"Seed of the random choice, for repeatable runs (default: random)."`
}

func newSample(cfg engine.Config) (engine.Transformer, error) {
	var c sampleConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	switch {
	case c.Rate != nil && c.Every != 0:
		return nil, cfg.Errorf("every", "sample takes rate: or every:, not both")
	case c.Rate != nil:
		if *c.Rate < 0 || *c.Rate > 1 {
			return nil, cfg.Errorf("rate", "rate must be between 0 and 1, got %v", *c.Rate)
		}
	case c.Every > 0:
	default:
		return nil, cfg.Errorf("", "sample needs rate: (0..1) or every: N (N >= 1)")
	}
	s := &Sample{every: c.Every}
	if c.Rate != nil {
		s.rate = *c.Rate
		seed := rand.Uint64()
		if c.Seed != nil {
			seed = *c.Seed
		}
		s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	return s, nil
}

// Transform implements engine.Transformer.
func (s *Sample) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if s.every > 0 {
		s.n++
		if s.n%s.every == 1 || s.every == 1 {
			emit(r)
		}
		return nil
	}
	if s.rng.Float64() < s.rate {
		emit(r)
	}
	return nil
}

// Dedupe drops records whose key (the record, or a JSON field) was seen
// among the last Capacity distinct keys. Memory is bounded: it keeps 8-byte
// hashes, not records; a 64-bit hash collision (about 1 in 10^19 per pair)
// would drop a distinct record.
type Dedupe struct {
	field    string
	seed     maphash.Seed
	capacity int
	seen     map[uint64]struct{}
	ring     []uint64 // the remembered hashes, oldest at next once full
	next     int
}

type dedupeConfig struct {
	Field    string `yaml:"field" example:"request_id" doc:"Dotted path of the JSON field that identifies a record (default: the whole record)."`
	Capacity int    `yaml:"capacity" default:"100000" doc:"Distinct keys remembered, 1 to 100000000."`
}

func newDedupe(cfg engine.Config) (engine.Transformer, error) {
	var c dedupeConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.Capacity == 0 {
		c.Capacity = 100_000
	}
	if c.Capacity < 1 || c.Capacity > 100_000_000 {
		return nil, cfg.Errorf("capacity", "capacity must be between 1 and 100000000")
	}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	return &Dedupe{field: c.Field, seed: maphash.MakeSeed(), capacity: c.Capacity,
		seen: make(map[uint64]struct{}, min(c.Capacity, 1<<16))}, nil
}

// Transform implements engine.Transformer.
func (d *Dedupe) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	key := r.Data
	if d.field != "" {
		v, err := field(r.Data, d.field)
		if err != nil {
			return err
		}
		key = []byte(v.Raw)
	}
	h := maphash.Bytes(d.seed, key)
	if _, dup := d.seen[h]; dup {
		return nil
	}
	if len(d.ring) < d.capacity {
		d.ring = append(d.ring, h)
	} else { // forget the oldest key
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = h
		d.next = (d.next + 1) % d.capacity
	}
	d.seen[h] = struct{}{}
	emit(r)
	return nil
}

var (
	_ engine.Transformer = (*Limit)(nil)
	_ engine.Transformer = (*Sample)(nil)
	_ engine.Transformer = (*Dedupe)(nil)
)
