package native

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "set", New: newSet, Config: setConfig{},
		Summary: "set JSON fields to constant values (fields: {path: value}, or field: + value:)",
		Doc:     "Objects along a path are created. Values are YAML values written as JSON: strings, numbers, booleans, null, lists, mappings.",
		Examples: []component.Example{
			{Title: "mark records", YAML: "- {name: mark, type: native, use: set, config: {fields: {processed: true, pipeline.version: 2}}}"},
		}})
	engine.RegisterNative(engine.Native{Name: "delete", New: newDelete, Config: deleteConfig{},
		Summary:  "delete JSON fields (fields: [path, ...] or field: path)",
		Examples: []component.Example{{Title: "drop personal data", YAML: "- {name: forget, type: native, use: delete, config: {fields: [user.email, user.ip]}}"}}})
	engine.RegisterNative(engine.Native{Name: "rename", New: newRename, Config: renameConfig{},
		Summary:  "rename JSON fields (fields: {old.path: new.path})",
		Doc:      "A missing field is left alone.",
		Examples: []component.Example{{Title: "rename two fields", YAML: "- {name: rename, type: native, use: rename, config: {fields: {msg: message, lvl: level}}}"}}})
}

type setConfig struct {
	Field  string         `yaml:"field" example:"status" doc:"Dotted path of one field to set (with value:)."`
	Value  any            `yaml:"value" example:"ok" doc:"The value field: is set to."`
	Fields map[string]any `yaml:"fields" example:"{processed: true}" doc:"Dotted paths and the values they are set to."`
}

type setOp struct {
	path string
	raw  []byte // JSON of the value
	top  topKey // path as a top-level key (fast path), when it is one
}

// Set sets JSON fields to constant values, creating objects along the path.
type Set struct {
	ops    []setOp
	simple bool // every path is a top-level key: the fast path applies
	slab   slab // where records that grow are built
}

func newSet(cfg engine.Config) (engine.Transformer, error) {
	var c setConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	fields := c.Fields
	if c.Field != "" {
		if fields == nil {
			fields = map[string]any{}
		}
		fields[c.Field] = c.Value
	}
	if len(fields) == 0 {
		return nil, cfg.Errorf("", "set needs fields: {path: value} or field: and value:")
	}
	keys := sortedKeys(fields)
	s := &Set{simple: true}
	for _, k := range keys {
		if err := checkPath(cfg, "fields", k); err != nil {
			return nil, err
		}
		raw, err := json.Marshal(fields[k])
		if err != nil {
			return nil, cfg.Errorf("fields", "value of %s: %v", k, err)
		}
		op := setOp{path: k, raw: raw, top: newTopKey(k)}
		s.simple = s.simple && op.top.key != ""
		s.ops = append(s.ops, op)
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Transform implements engine.Transformer.
func (s *Set) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	from := 0
	if s.simple {
		for ; from < len(s.ops); from++ {
			if !s.setTop(r, &s.ops[from]) {
				break
			}
		}
		if from == len(s.ops) {
			emit(r)
			return nil
		}
	}
	return s.transform(r, from, emit)
}

// setTop sets op, a top-level key, as sjson would, and reports whether it
// could (false: r is unchanged, the general path decides).
func (s *Set) setTop(r *engine.Record, op *setOp) bool {
	data := r.Data
	vs, ve, found, ok := op.top.lookup(data)
	if !ok {
		return false
	}
	if found { // replace the value
		if ve-vs == len(op.raw) {
			copy(data[vs:ve], op.raw)
			return true
		}
		out := s.slab.alloc(len(data) - (ve - vs) + len(op.raw))
		out = append(append(append(out, data[:vs]...), op.raw...), data[ve:]...)
		r.Data = out
		return true
	}
	// Add the key before the object's closing brace; like sjson, what is
	// before the opening brace and after the closing one is not kept.
	open := skipBlanks(data, 0) // lookup saw '{' there
	end := bytes.LastIndexByte(data, '}')
	if end <= open {
		return false
	}
	comma := false
	for i := open + 1; i < end; i++ {
		if data[i] > ' ' {
			comma = true
			break
		}
	}
	out := s.slab.alloc(end - open + 1 + len(op.top.quoted) + 1 + len(op.raw) + 1)
	out = append(out, data[open:end]...)
	if comma {
		out = append(out, ',')
	}
	out = append(append(append(out, op.top.quoted...), ':'), op.raw...)
	r.Data = append(out, '}')
	return true
}

// JSONOutput implements engine.JSONOutput: JSON values (json.Marshal's)
// put at top-level keys of a JSON object keep it one JSON value. Nested
// paths go through sjson, which is not vouched for.
func (s *Set) JSONOutput() engine.JSONGuarantee {
	if s.simple {
		return engine.JSONPreserved
	}
	return engine.JSONUnchecked
}

// transform sets s.ops[from:] with sjson: the general path.
func (s *Set) transform(r *engine.Record, from int, emit func(*engine.Record)) error {
	if from == 0 {
		if _, err := field(r.Data, s.ops[0].path); err != nil {
			return err
		}
	}
	var err error
	for _, op := range s.ops[from:] {
		if err = jsonkey.Path(r.Data, op.path); err != nil {
			return err
		}
		if r.Data, err = sjson.SetRawBytes(r.Data, op.path, op.raw); err != nil {
			return err
		}
	}
	emit(r)
	return nil
}

type deleteConfig struct {
	Field  string   `yaml:"field" example:"user.email" doc:"Dotted path of one field to delete."`
	Fields []string `yaml:"fields" example:"[user.email, user.ip]" doc:"Dotted paths of the fields to delete."`
}

// Delete removes JSON fields.
type Delete struct{ paths []string }

func newDelete(cfg engine.Config) (engine.Transformer, error) {
	var c deleteConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	paths := c.Fields
	if c.Field != "" {
		paths = append(paths, c.Field)
	}
	if len(paths) == 0 {
		return nil, cfg.Errorf("", "delete needs fields: [path, ...] or field: path")
	}
	for _, p := range paths {
		if err := checkPath(cfg, "fields", p); err != nil {
			return nil, err
		}
	}
	return &Delete{paths: paths}, nil
}

// Transform implements engine.Transformer.
func (d *Delete) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	for _, p := range d.paths {
		v, err := field(r.Data, p)
		if err != nil {
			return err
		}
		if v.Exists() {
			if r.Data, err = sjson.DeleteBytes(r.Data, p); err != nil {
				return err
			}
		}
	}
	emit(r)
	return nil
}

type renameConfig struct {
	Fields map[string]string `yaml:"fields" required:"true" example:"{msg: message}" doc:"Old dotted paths and their new ones."`
}

// Rename moves JSON fields to new paths (a missing field is left alone).
type Rename struct{ from, to []string }

func newRename(cfg engine.Config) (engine.Transformer, error) {
	var c renameConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if len(c.Fields) == 0 {
		return nil, cfg.Errorf("", "rename needs fields: {old.path: new.path}")
	}
	t := &Rename{}
	for _, k := range sortedKeys(c.Fields) {
		if err := checkPath(cfg, "fields", k); err != nil {
			return nil, err
		}
		if err := checkPath(cfg, "fields", c.Fields[k]); err != nil {
			return nil, err
		}
		t.from, t.to = append(t.from, k), append(t.to, c.Fields[k])
	}
	return t, nil
}

// Transform implements engine.Transformer.
func (t *Rename) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	for i, from := range t.from {
		v, err := field(r.Data, from)
		if err != nil {
			return err
		}
		if !v.Exists() {
			continue
		}
		raw := []byte(v.Raw)
		if r.Data, err = sjson.DeleteBytes(r.Data, from); err != nil {
			return err
		}
		if err = jsonkey.Path(r.Data, t.to[i]); err != nil {
			return err
		}
		if r.Data, err = sjson.SetRawBytes(r.Data, t.to[i], raw); err != nil {
			return err
		}
	}
	emit(r)
	return nil
}

var (
	_ engine.Transformer = (*Set)(nil)
	_ engine.JSONOutput  = (*Set)(nil)
	_ engine.Transformer = (*Delete)(nil)
	_ engine.Transformer = (*Rename)(nil)
)
