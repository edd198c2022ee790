package js_test

import (
	"testing"

	"github.com/pipe-dev/pipe/engine/enginetest"
)

// TestREADMEExample runs the example of README.md as written.
func TestREADMEExample(t *testing.T) {
	if n := enginetest.RunREADMEExamples(t, "README.md"); n != 1 {
		t.Errorf("%d examples, want 1", n)
	}
}
