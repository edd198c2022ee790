package engine

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestPlainMapNodeMatchesEncode: the node plainMapNode builds is the one
// Node.Encode makes of the same map (positions included), and maps it
// does not handle are left to Encode.
func TestPlainMapNodeMatchesEncode(t *testing.T) {
	words := []string{
		"upper", "lower", "x", "a-b", "a_b", "a.b", "v1.2.3", "1.2.3", "127.0.0.1", "fail", "drop",
		"true", "false", "True", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"on", "On", "ON", "off", "Off", "OFF", "0", "10", "1e3", "0x1F", "1_000", "nan", ".inf", "NaN", "Inf",
		"2026-12-03", "2026-12-03T10:00:00Z", "12:30", "64KiB", "250ms", "-", "~", "_a", "a b", "", "é", "a:b",
	}
	keys := []string{"to", "field", "a", "b", "ab", "a_b", "a-b", "a1", "A", "_x", "y", "no", "null", "true", "zz", "field_a", "field-a", "fielda"}
	var maps []map[string]any
	for _, w := range words {
		for _, k := range keys {
			maps = append(maps, map[string]any{k: w})
		}
	}
	for i := range keys {
		for j := range keys {
			if i != j {
				maps = append(maps, map[string]any{keys[i]: "upper", keys[j]: words[(i+j)%len(words)]})
			}
		}
	}
	maps = append(maps,
		map[string]any{"field": "level", "equals": "error", "to": "upper", "b": "x", "a_b": "y", "a-b": "z", "ab": "w", "a": "v"},
		map[string]any{"n": 3}, map[string]any{"ok": true}, map[string]any{"list": []any{"a"}}, map[string]any{},
	)
	fast := 0
	for _, m := range maps {
		var want yaml.Node
		if err := want.Encode(m); err != nil {
			t.Fatal(err)
		}
		got := plainMapNode(m)
		if got == nil {
			continue
		}
		fast++
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("plainMapNode(%v):\n got %s\nwant %s", m, dumpNode(got), dumpNode(&want))
		}
	}
	if fast < 100 {
		t.Errorf("only %d of %d maps took the fast path", fast, len(maps))
	}
	if c := ConfigOf(map[string]any{"to": "upper"}); c.node == nil || c.used == nil {
		t.Errorf("ConfigOf: %+v", c)
	}
}

func dumpNode(n *yaml.Node) string {
	s := ""
	var walk func(*yaml.Node, string)
	walk = func(n *yaml.Node, ind string) {
		s += ind + n.Tag + " " + n.Value + " " + string(rune('0'+n.Kind)) + " " + string(rune('0'+n.Style)) + " " + itoa(n.Line) + ":" + itoa(n.Column) + "\n"
		for _, c := range n.Content {
			walk(c, ind+"  ")
		}
	}
	walk(n, "")
	return s
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
