package rpc_test

import (
	"path/filepath"
	"testing"

	"github.com/pipe-dev/pipe/engine/enginetest"
)

// TestREADMEExample runs the README's example pipeline as written; only the
// plugin's directory is the test's build directory instead of testdata/bin.
func TestREADMEExample(t *testing.T) {
	enginetest.RunREADMEExamplesMapped(t, "README.md", func(p string) string {
		return filepath.Join(bin, filepath.Base(p))
	})
}
