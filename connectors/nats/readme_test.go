package nats

import (
	"testing"

	"github.com/pipe-dev/pipe/connectors/internal/readmetest"
)

// The README's example builds (config checked, no connection).
func TestREADMEExample(t *testing.T) {
	if n := readmetest.Check(t, "README.md"); n != 1 {
		t.Errorf("%d examples, want 1", n)
	}
}
