package script

import (
	"encoding/json"
	"strings"
	"testing"
)

// enc encodes strings as JSON strings and "undefined" as a deletion.
type enc struct{}

func (enc) EncodeField(_ string, v string) ([]byte, bool, error) {
	if v == "undefined" {
		return nil, true, nil
	}
	b, err := json.Marshal(v)
	return b, false, err
}

func TestLazy(t *testing.T) {
	const rec = `{"a": 1,  "b":"x", "c.d":{"e":2}}`
	cases := []struct {
		name string
		edit func(l *Lazy[string])
		want string
		keys string
	}{
		{"untouched keeps the bytes", func(*Lazy[string]) {}, rec, "a,b,c.d"},
		{"write in place", func(l *Lazy[string]) { l.Set("b", "y") }, `{"a": 1,  "b":"y", "c.d":{"e":2}}`, "a,c.d,b"},
		{"new field last", func(l *Lazy[string]) { l.Set("z", "new") }, `{"a": 1,  "b":"x", "c.d":{"e":2},"z":"new"}`, "a,b,c.d,z"},
		{"delete", func(l *Lazy[string]) { l.Delete("a") }, `{  "b":"x", "c.d":{"e":2}}`, "b,c.d"},
		{"delete then write", func(l *Lazy[string]) { l.Set("q", "1"); l.Delete("q"); l.Set("q", "2") }, `{"a": 1,  "b":"x", "c.d":{"e":2},"q":"2"}`, "a,b,c.d,q"},
		{"written undefined deletes", func(l *Lazy[string]) { l.Set("b", "undefined") }, `{"a": 1, "c.d":{"e":2}}`, "a,c.d,b"},
		{"field names with dots", func(l *Lazy[string]) { l.Set("c.d", "v") }, `{"a": 1,  "b":"x", "c.d":"v"}`, "a,b,c.d"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &Lazy[string]{Data: []byte(rec)}
			c.edit(l)
			got, err := l.Encode(enc{})
			if err != nil || string(got) != c.want {
				t.Errorf("Encode = %s, %v; want %s", got, err, c.want)
			}
			if k := strings.Join(l.Keys(), ","); k != c.keys {
				t.Errorf("Keys = %s, want %s", k, c.keys)
			}
		})
	}
	l := &Lazy[string]{Data: []byte(rec)}
	if _, ok, raw := l.Lookup("c.d"); ok || raw.Raw != `{"e":2}` {
		t.Errorf("Lookup(c.d) = %v, %q", ok, raw.Raw)
	}
	l.Cache("c.d", "cached")
	if v, ok, _ := l.Lookup("c.d"); !ok || v != "cached" || !l.Has("c.d") {
		t.Errorf("Lookup after Cache = %q, %v", v, ok)
	}
	l.Delete("c.d")
	if _, ok, raw := l.Lookup("c.d"); ok || raw.Exists() || l.Has("c.d") {
		t.Error("a deleted field is still there")
	}
}
