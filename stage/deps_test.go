package stage_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden are the libraries only the engine needs: a plugin must not
// link them (the reason package stage exists: see RATIONALE.md).
var forbidden = []string{
	"gopkg.in/yaml",
	"github.com/santhosh-tekuri/jsonschema",
	"github.com/klauspost/compress",
	"github.com/tidwall/gjson",
	"github.com/tidwall/sjson",
}

// allowed are the only packages of pipe itself that a plugin may link: the
// contract, the rpc Go SDK and its generated gRPC code. The engine, the
// host side of every kind and internal/ are forbidden.
var allowed = map[string]bool{
	"github.com/pipe-dev/pipe/stage":                true,
	"github.com/pipe-dev/pipe/stages/rpc/proto":     true,
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin": true,
}

// deps returns the packages outside the standard library that pkg links
// (itself included). It also stats the Go files of pipe's own packages
// among them, and go.mod: go test caches a result only as long as the files
// the test looked at are unchanged, and go list's reading does not count.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}", pkg).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, msg)
	}
	os.Stat("../go.mod")
	var pkgs []string
	for line := range strings.Lines(string(out)) {
		path, dir, _ := strings.Cut(strings.TrimSpace(line), " ")
		if path == "" {
			continue
		}
		pkgs = append(pkgs, path)
		if strings.HasPrefix(path, "github.com/pipe-dev/pipe/") {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".go") {
					os.Stat(filepath.Join(dir, e.Name()))
				}
			}
		}
	}
	return pkgs
}

func isForbidden(p string) bool {
	if strings.HasPrefix(p, "github.com/pipe-dev/pipe/stage/testdata/") {
		return false // the plugin under test
	}
	if strings.HasPrefix(p, "github.com/pipe-dev/pipe/") {
		return !allowed[p]
	}
	for _, f := range forbidden {
		if strings.HasPrefix(p, f) {
			return true
		}
	}
	return false
}

// TestStageImportsStandardLibraryOnly: the contract package links nothing
// but itself and the standard library.
func TestStageImportsStandardLibraryOnly(t *testing.T) {
	got := deps(t, "github.com/pipe-dev/pipe/stage")
	if len(got) != 1 || got[0] != "github.com/pipe-dev/pipe/stage" {
		t.Errorf("package stage links %v; it must link the standard library only", got)
	}
}

// TestPluginDependencies: a trivial rpc plugin (Go SDK) and a trivial Go
// plugin (.so) link neither the engine nor its YAML, JSON Schema,
// compression or JSON path libraries.
func TestPluginDependencies(t *testing.T) {
	for _, tt := range []struct {
		name, pkg string
		must      []string // packages it must link (so the list is not empty by mistake)
	}{
		{"rpc plugin", "./testdata/rpcplugin", []string{"github.com/pipe-dev/pipe/stage", "github.com/pipe-dev/pipe/stages/rpc/rpcplugin", "github.com/hashicorp/go-plugin", "google.golang.org/grpc"}},
		{"Go plugin (.so)", "./testdata/soplugin", []string{"github.com/pipe-dev/pipe/stage"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := deps(t, tt.pkg)
			have := map[string]bool{}
			for _, p := range got {
				have[p] = true
				if isForbidden(p) {
					t.Errorf("%s links %s", tt.pkg, p)
				}
			}
			for _, m := range tt.must {
				if !have[m] {
					t.Errorf("%s does not link %s; its dependencies: %v", tt.pkg, m, got)
				}
			}
		})
	}
}

// TestForbiddenCatchesTheEngine: the check above would notice a plugin
// that links the engine (the host's rpc package, say).
func TestForbiddenCatchesTheEngine(t *testing.T) {
	got := deps(t, "github.com/pipe-dev/pipe/stages/rpc")
	var bad []string
	for _, p := range got {
		if isForbidden(p) {
			bad = append(bad, p)
		}
	}
	for _, want := range []string{"github.com/pipe-dev/pipe/engine", "gopkg.in/yaml.v3", "github.com/pipe-dev/pipe/stages/rpc"} {
		found := false
		for _, b := range bad {
			found = found || b == want
		}
		if !found {
			t.Errorf("the check does not flag %s among the host's dependencies; flagged: %v", want, bad)
		}
	}
}
