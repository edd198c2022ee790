package connector_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The contract depends on the standard library and package stage alone, so
// a connector never links the engine.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/pipe-dev/pipe/connector").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "github.com/pipe-dev/pipe/connector", "github.com/pipe-dev/pipe/stage":
		default:
			t.Errorf("package connector depends on %s", p)
		}
	}
}
