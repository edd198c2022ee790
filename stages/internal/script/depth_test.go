package script

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		json string
		deep bool
	}{
		{`1`, false},
		{nest(MaxDepth), false},
		{nest(MaxDepth + 1), true},
		{nest(100000), true},
		{`{"a":` + nest(MaxDepth) + `}`, true},
		{`{"a":"` + strings.Repeat("[", 1000) + `"}`, false},    // brackets in a string
		{`["\"` + strings.Repeat("[", 1000) + `\\", 1]`, false}, // escaped quotes
		{strings.Repeat(`[1,`, MaxDepth) + `2` + strings.Repeat("]", MaxDepth), false},
	} {
		err := CheckDepth([]byte(tc.json))
		if got := errors.Is(err, ErrTooDeep); got != tc.deep {
			t.Errorf("CheckDepth(%.40s...) = %v; want deep %v", tc.json, err, tc.deep)
		}
	}
}
