package engine

import (
	"strings"
	"testing"
)

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name      string
		want, got []string
		diff      string
	}{
		{"equal", []string{"a", "b"}, []string{"a", "b"}, ""},
		{"both empty", nil, nil, ""},
		{"extra record", []string{"a"}, []string{"a", "b"}, "  a\n+ b\n"},
		{"missing record", []string{"a", "b"}, []string{"b"}, "- a\n  b\n"},
		{"changed record", []string{"a", "b", "c"}, []string{"a", "B", "c"}, "  a\n- b\n+ B\n  c\n"},
		{"all different", []string{"x"}, []string{"y", "z"}, "- x\n+ y\n+ z\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := lineDiff(tc.want, tc.got); d != tc.diff {
				t.Errorf("lineDiff(%q, %q) =\n%s\nwant\n%s", tc.want, tc.got, d, tc.diff)
			}
		})
	}
}

// A diff of long outputs keeps memory linear: 20000 lines against 20000
// (an LCS table would be 400M cells) with one change in the middle.
func TestLineDiffLong(t *testing.T) {
	want := make([]string, 20000)
	for i := range want {
		want[i] = strings.Repeat("x", i%7) + string(rune('a'+i%26))
	}
	got := append([]string(nil), want...)
	got[10000] = "changed"
	d := lineDiff(want, got)
	if n := strings.Count(d, "\n- "); n != 1 || strings.Count(d, "\n+ changed\n") != 1 {
		t.Errorf("want one line out and one in, got %d out:\n%.300s", n, d)
	}
}
