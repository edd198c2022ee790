package js_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/pin/pintest"
)

// TestPinnedEntry: a plugin's script replaced after it was verified does
// not run (issue 15, item 2).
func TestPinnedEntry(t *testing.T) {
	pintest.Run(t, pintest.Case{Kind: "js", Ext: ".js",
		Entry:   []byte(`function transform(rec) { return rec.toUpperCase() }`),
		Swapped: []byte(`return "pwned"`),
		In:      "a\nb\n", Want: "A\nB\n"})
}
