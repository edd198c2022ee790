package engine

import (
	"reflect"
	"testing"

	"github.com/pipe-dev/pipe/component"
	"gopkg.in/yaml.v3"
)

// TestDefaultNodeMatchesParser: the node defaultNode builds for a plain
// default is the document yaml.Unmarshal makes of it, for every default of
// the registered components and for words YAML reads as other types
// (booleans, null, numbers in other bases, sizes, durations), so that
// skipping the parser never changes what a field gets.
func TestDefaultNodeMatchesParser(t *testing.T) {
	defaults := []string{
		"false", "true", "True", "FALSE", "null", "Null", "NULL", "yes", "no", "on", "off", "y", "n",
		"0", "00", "007", "08", "-1", "10", "80", "1_000", "0x1F", "0o17", "0b101", "1e3", "1E-3", "1.5", "1.", "0.5e2",
		"64KiB", "1MiB", "250ms", "1s", "10s", "1h30m", "fail", "drop", "exact", "continue", "block", "lines",
		"a.b", "a_b", "a-b", "v1.2.3", "2026-12-03", "2026-12-03T10:00:00Z", "12:30", "nan", "inf", "NaN", "Inf",
		"1-2", "1.2.3", "0.0.0.0", "127.0.0.1", "e", "E", "x", "_a", ".5", "-", "~", "','", "a b", "[1]", "{}", "'x'", "\"x\"",
	}
	var walk func([]component.Field)
	walk = func(fs []component.Field) {
		for _, f := range fs {
			if f.Default != "" {
				defaults = append(defaults, f.Default)
			}
			walk(f.Fields)
		}
	}
	for _, s := range DefaultRegistry.Specs() {
		walk(s.Fields)
	}
	plain := 0
	for _, def := range defaults {
		var want yaml.Node
		wantErr := yaml.Unmarshal([]byte(def), &want)
		got, err := defaultNode(def)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("defaultNode(%q): error %v, parser's %v", def, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if plainDefault(def) {
			plain++
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("defaultNode(%q) = %#v / %#v, parser: %#v / %#v", def, *got, got.Content[0], want, want.Content[0])
		}
	}
	if plain < 40 {
		t.Errorf("only %d defaults took the fast path", plain)
	}
}
