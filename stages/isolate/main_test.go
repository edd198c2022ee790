package isolate_test

import (
	"os"
	"testing"

	_ "github.com/pipe-dev/pipe/stages/js"
	_ "github.com/pipe-dev/pipe/stages/lua"
	_ "github.com/pipe-dev/pipe/stages/native"

	"github.com/pipe-dev/pipe/stages/isolate"
)

// TestMain: the test binary is also the child of the isolated stages the
// tests run (isolate re-executes os.Executable()).
func TestMain(m *testing.M) {
	isolate.ServeIfChild()
	os.Exit(m.Run())
}
