package lua

import (
	"strings"
	"testing"
)

func TestArrayCap(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want int
	}{
		{`[]`, 0}, {`[ ]`, 0}, {`[1]`, 1}, {`["a,b"]`, 1}, {`["a\",b", 2]`, 2},
		{`[[1,2],{"a":1,"b":2},3]`, 3}, {`[[]]`, 1}, {`[{}]`, 1}, {`["prod","eu","us"]`, 3},
		{"[" + strings.Repeat("1,", 200) + "1]", 8},
	} {
		if got := arrayCap(c.raw); got != c.want {
			t.Errorf("arrayCap(%s) = %d, want %d", c.raw, got, c.want)
		}
	}
}
