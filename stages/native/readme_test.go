package native_test

import (
	"testing"

	"github.com/pipe-dev/pipe/engine/enginetest"
	_ "github.com/pipe-dev/pipe/stages/native"
)

// TestREADMEExamples runs every example of README.md as written.
func TestREADMEExamples(t *testing.T) {
	if n := enginetest.RunREADMEExamples(t, "README.md"); n < 10 {
		t.Errorf("%d examples, want one per transformer", n)
	}
}
