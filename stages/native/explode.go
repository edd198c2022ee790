package native

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "explode", New: newExplode, Config: explodeConfig{},
		Summary: "one record per element of a JSON array field (as: puts the element in another field)",
		Doc: "Each output record is the input record with the array replaced by one of its elements (at `as:` when given, " +
			"the array field removed). A missing, null or empty array emits nothing; a field that is not an array fails the record.",
		Examples: []component.Example{
			{Title: "one record per tag", YAML: "- {name: per-tag, type: native, use: explode, config: {field: tags, as: tag}}"},
		}})
}

type explodeConfig struct {
	Field string `yaml:"field" required:"true" example:"tags" doc:"Dotted path of the JSON array field to split on."`
	As    string `yaml:"as" example:"tag" doc:"Field each element is put in (the array field is removed); default: the array field itself."`
}

// Explode splits a record into one record per element of an array field.
// A record whose field is missing, null or an empty array emits nothing; a
// field that is not an array fails the record.
type Explode struct {
	field, as string
	key       []byte // `,"as":` when as is a plain top-level key
	plain     bool   // field is a plain top-level key
}

func newExplode(cfg engine.Config) (engine.Transformer, error) {
	var c explodeConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := checkPath(cfg, "field", c.Field); err != nil {
		return nil, err
	}
	if c.As != "" {
		if err := checkPath(cfg, "as", c.As); err != nil {
			return nil, err
		}
	}
	t := &Explode{field: c.Field, as: c.As, plain: !strings.ContainsAny(c.Field, ".\\")}
	if c.As != "" && !strings.ContainsAny(c.As, ".\\") {
		k, _ := json.Marshal(c.As)
		t.key = append(append([]byte(","), k...), ':')
	}
	return t, nil
}

// Transform implements engine.Transformer.
func (e *Explode) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	v, err := field(r.Data, e.field)
	if err != nil {
		return err
	}
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		return fmt.Errorf("field %s is not an array", e.field)
	}
	base := r.Data
	target := e.field
	if e.as != "" && e.as != e.field {
		base = nil
		if e.plain {
			base = cutField(r.Data, v)
		}
		if base == nil {
			if base, err = sjson.DeleteBytes(r.Data, e.field); err != nil {
				return err
			}
		}
		target = e.as
		if err = jsonkey.Path(base, target); err != nil {
			return err
		}
	}
	// Fast paths splice bytes: the element replaces the array in place, or
	// is appended as a new top-level field. They copy each output once.
	if target == e.field && v.Index > 0 {
		head, tail := r.Data[:v.Index], r.Data[v.Index+len(v.Raw):]
		v.ForEach(func(_, el gjson.Result) bool {
			out := make([]byte, 0, len(head)+len(el.Raw)+len(tail))
			out = append(append(append(out, head...), el.Raw...), tail...)
			emit(r.Derive(out))
			return true
		})
		return nil
	}
	if prefix, ok := e.appendable(base, target); ok {
		sep := e.key
		if bytes.HasSuffix(prefix, []byte("{")) {
			sep = e.key[1:] // an empty object: no comma
		}
		v.ForEach(func(_, el gjson.Result) bool {
			out := make([]byte, 0, len(prefix)+len(sep)+len(el.Raw)+1)
			out = append(append(append(append(out, prefix...), sep...), el.Raw...), '}')
			emit(r.Derive(out))
			return true
		})
		return nil
	}
	v.ForEach(func(_, el gjson.Result) bool {
		var out []byte
		out, err = sjson.SetRawBytes(append([]byte(nil), base...), target, []byte(el.Raw))
		if err != nil {
			return false
		}
		emit(r.Derive(out))
		return true
	})
	return err
}

// appendable reports whether target can be added to the object base by
// appending `,"target":value` before its closing brace (a plain top-level
// key it does not have yet), and returns base up to that brace.
func (e *Explode) appendable(base []byte, target string) ([]byte, bool) {
	if e.key == nil || target != e.as {
		return nil, false
	}
	end := len(base)
	for end > 0 && (base[end-1] == ' ' || base[end-1] == '\t' || base[end-1] == '\r' || base[end-1] == '\n') {
		end--
	}
	// The quoted key anywhere in base may be the key itself: then sjson
	// decides (a hit inside a value only costs the slow path).
	if end < 2 || base[end-1] != '}' || bytes.Contains(base, e.key[1:len(e.key)-1]) {
		return nil, false
	}
	prefix := bytes.TrimRight(base[:end-1], " \t\r\n")
	return prefix, len(prefix) > 0
}

// cutField returns a copy of the object data without the top-level field
// whose value is v, or nil when it cannot tell where the field starts (an
// escape in the key): then the caller uses sjson. v must come from a plain,
// top-level field name.
func cutField(data []byte, v gjson.Result) []byte {
	if v.Index <= 0 || v.Index+len(v.Raw) > len(data) {
		return nil
	}
	back := func(i int) int { // the last non-blank byte at or before i
		for i >= 0 && isBlank(data[i]) {
			i--
		}
		return i
	}
	i := back(v.Index - 1)
	if i < 0 || data[i] != ':' {
		return nil
	}
	i = back(i - 1)
	if i < 0 || data[i] != '"' {
		return nil
	}
	q := bytes.LastIndexByte(data[:i], '"')
	if q < 0 || bytes.IndexByte(data[q:i], '\\') >= 0 {
		return nil
	}
	start, end := q, v.Index+len(v.Raw)
	if b := back(start - 1); b >= 0 && data[b] == ',' {
		start = b // drop the comma before the field
	} else { // the first field: drop the comma after it, if any
		a := end
		for a < len(data) && isBlank(data[a]) {
			a++
		}
		if a < len(data) && data[a] == ',' {
			end = a + 1
		}
	}
	out := make([]byte, 0, len(data)-(end-start))
	return append(append(out, data[:start]...), data[end:]...)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

var _ engine.Transformer = (*Explode)(nil)
