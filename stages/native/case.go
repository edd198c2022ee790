package native

import (
	"context"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/bytecase"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "case", New: newCase, Config: caseConfig{},
		Summary: "upper- or lower-case the record or a JSON string field (to: upper|lower)",
		Doc: "ASCII text is converted in place; other Unicode text follows Go's unicode.ToUpper/ToLower, character by character. " +
			"Bytes that are not valid UTF-8 are left exactly as they were. A field that is missing or not a string is left alone.",
		Examples: []component.Example{
			{Title: "shout a message field", YAML: "- {name: shout, type: native, use: case, config: {field: msg, to: upper}}"},
		}})
}

type caseConfig struct {
	To    string `yaml:"to" required:"true" enum:"upper,lower" doc:"The case to convert to."`
	Field string `yaml:"field" example:"msg" doc:"Dotted path of a JSON string field to convert instead of the whole record (codec: ndjson)."`
}

// Case changes the letter case of the record or of a JSON string field.
type Case struct {
	upper bool
	field string
	top   topKey // field as a top-level key (fast lookup), when it is one
}

func newCase(cfg engine.Config) (engine.Transformer, error) {
	var c caseConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	t := &Case{field: c.Field, top: newTopKey(c.Field)}
	switch c.To {
	case "upper":
		t.upper = true
	case "lower":
	default:
		return nil, cfg.Errorf("to", "to must be upper or lower, got %q", c.To)
	}
	if c.Field != "" {
		if err := checkPath(cfg, "field", c.Field); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Transform implements engine.Transformer.
func (t *Case) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if t.field == "" {
		r.Data = t.apply(r.Data)
		emit(r)
		return nil
	}
	if t.top.key != "" {
		if vs, ve, found, ok := t.top.lookup(r.Data); ok {
			if !found || r.Data[vs] != '"' {
				emit(r) // missing or not a string: left alone
				return nil
			}
			if s := r.Data[vs+1 : ve-1]; plainString(s) {
				// Printable ASCII without escapes: changed in place, as
				// the general path would write it (same length, nothing
				// to escape), with no copy of the record.
				t.apply(s)
				emit(r)
				return nil
			}
		}
	}
	conv := func(s string) string { return string(appendCase(nil, s, t.upper)) }
	if err := editString(r, t.field, conv); err != nil {
		return err
	}
	emit(r)
	return nil
}

// JSONOutput implements engine.JSONOutput: a field's string is rewritten
// as a JSON string (escaped as JSON needs), the rest of the record is
// kept; the case of a whole record (true becomes TRUE) is not JSON.
func (t *Case) JSONOutput() engine.JSONGuarantee {
	if t.field != "" {
		return engine.JSONPreserved
	}
	return engine.JSONUnchecked
}

// apply changes case in place for ASCII text (eight bytes at a time),
// allocating only for other text.
func (t *Case) apply(b []byte) []byte {
	if from, to := bytecase.Range(t.upper); !bytecase.FlipASCII(b, from, to) {
		return t.slow(b)
	}
	return b
}

// slow handles text with non-ASCII letters (Unicode case mapping).
func (t *Case) slow(b []byte) []byte { return appendCase(b[:0:0], string(b), t.upper) }

// appendCase appends s with its letters in upper (or lower) case to dst,
// as strings.ToUpper (ToLower) would, except that a byte that is not part
// of valid UTF-8 is kept as it is instead of becoming U+FFFD.
func appendCase(dst []byte, s string, upper bool) []byte {
	conv := unicode.ToLower
	if upper {
		conv = unicode.ToUpper
	}
	dst = slices.Grow(dst, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
				c ^= 0x20
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, c) // not UTF-8: kept
		} else {
			dst = utf8.AppendRune(dst, conv(r))
		}
		i += n
	}
	return dst
}

var (
	_ engine.Transformer = (*Case)(nil)
	_ engine.JSONOutput  = (*Case)(nil)
)
