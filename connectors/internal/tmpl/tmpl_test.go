package tmpl

import (
	"errors"
	"testing"

	"github.com/pipe-dev/pipe/stage"
)

func TestExpand(t *testing.T) {
	rec := stage.NewRecord([]byte(`{"type":"click","user":{"id":7}}`))
	rec.Set("region", "eu")
	for _, c := range []struct {
		src, want string
		missing   bool
	}{
		{"plain", "plain", false},
		{"", "", false},
		{"ev.{{meta.region}}.{{field.type}}", "ev.eu.click", false},
		{"{{ field.user.id }}", "7", false},
		{"ev.{{meta.zone}}", "", true},
		{"ev.{{field.nope}}", "", true},
	} {
		tp, err := Parse(c.src)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		got, err := tp.Expand(rec)
		if c.missing != errors.Is(err, ErrMissing) || got != c.want {
			t.Errorf("%q = %q, %v; want %q (missing %v)", c.src, got, err, c.want, c.missing)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{"a.{{meta.x", "{{x}}", "{{meta.}}", "{{env.HOME}}"} {
		if _, err := Parse(src); err == nil {
			t.Errorf("%q parsed", src)
		}
	}
}
