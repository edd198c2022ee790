package lua_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/pin/pintest"
)

// TestPinnedEntry: a plugin's script replaced after it was verified does
// not run (issue 15, item 2).
func TestPinnedEntry(t *testing.T) {
	pintest.Run(t, pintest.Case{Kind: "lua", Ext: ".lua",
		Entry:   []byte(`return string.upper(rec)`),
		Swapped: []byte(`return "pwned"`),
		In:      "a\nb\n", Want: "A\nB\n"})
}
