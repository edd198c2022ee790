// Package tmpl expands the small templates that broker outputs take for a
// subject, a topic, a key or a message id: literal text with {{meta.KEY}}
// (a metadata value of the record) and {{field.PATH}} (a field of the
// record's JSON, a gjson path such as user.id) substituted.
//
//	subject: events.{{meta.region}}.{{field.type}}
//
// A reference to a missing value is an error of the record (an empty
// subject token would silently route elsewhere).
//
// Under the csv and logfmt codecs an output is handed each record as its
// encoded line: a {{field.PATH}} template is refused when the output is
// built (Template.CheckCodec).
package tmpl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pipe-dev/pipe/stage"
	"github.com/tidwall/gjson"
)

// Template is a parsed template; the zero value expands to "".
type Template struct {
	src   string
	parts []part
}

type part struct {
	lit  string
	kind byte // 0 literal, 'm' meta, 'f' field
	name string
}

// ErrMissing is wrapped by the error of an expansion that references a
// missing metadata key or field.
var ErrMissing = errors.New("missing value")

// Parse parses src.
func Parse(src string) (Template, error) {
	t := Template{src: src}
	rest := src
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{lit: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return Template{}, fmt.Errorf("template %q: {{ without }}", src)
		}
		ref := strings.TrimSpace(rest[i+2 : i+j])
		switch {
		case strings.HasPrefix(ref, "meta.") && len(ref) > 5:
			t.parts = append(t.parts, part{kind: 'm', name: ref[5:]})
		case strings.HasPrefix(ref, "field.") && len(ref) > 6:
			t.parts = append(t.parts, part{kind: 'f', name: ref[6:]})
		default:
			return Template{}, fmt.Errorf("template %q: {{%s}}: want {{meta.KEY}} or {{field.PATH}}", src, ref)
		}
		rest = rest[i+j+2:]
	}
}

// String returns the template's source.
func (t Template) String() string { return t.src }

// Static reports whether t has no references (its expansion is constant).
func (t Template) Static() bool {
	for _, p := range t.parts {
		if p.kind != 0 {
			return false
		}
	}
	return true
}

// CheckCodec returns an error when t reads a field of the record
// ({{field.PATH}}) and the output is handed records encoded by a text codec
// (textCodec, connector.Env's TextCodec: csv or logfmt): such a record is a
// line, with no JSON field to read, so the template could never expand.
// Outputs call it when they are built, so that pipe lint refuses it.
func (t Template) CheckCodec(textCodec string) error {
	if textCodec == "" {
		return nil
	}
	for _, p := range t.parts {
		if p.kind == 'f' {
			return fmt.Errorf("template %q: {{field.%s}} reads a field of the record's JSON, but under codec %s the output is handed each record as a %s line: use codec ndjson, or {{meta.KEY}} with the value set by a stage", t.src, p.name, textCodec, textCodec)
		}
	}
	return nil
}

// IsZero reports whether t is empty.
func (t Template) IsZero() bool { return len(t.parts) == 0 }

// Expand returns t for rec.
func (t Template) Expand(rec *stage.Record) (string, error) {
	if len(t.parts) == 1 && t.parts[0].kind == 0 {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case 0:
			b.WriteString(p.lit)
		case 'm':
			v, ok := rec.Lookup(p.name)
			if !ok {
				return "", fmt.Errorf("%s: metadata %q: %w", t.src, p.name, ErrMissing)
			}
			b.WriteString(v)
		case 'f':
			r := gjson.GetBytes(rec.Data, p.name)
			if !r.Exists() {
				return "", fmt.Errorf("%s: field %q: %w", t.src, p.name, ErrMissing)
			}
			b.WriteString(r.String())
		}
	}
	return b.String(), nil
}
