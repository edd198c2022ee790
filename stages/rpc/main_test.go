package rpc_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/rpc"
)

// bin holds the example plugins, built by TestMain with the go tool.
var bin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "rpc-plugins-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./testdata/plugins/...", "./testdata/bench/...")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the test plugins:", err)
			return 1
		}
		bin = dir
		os.Setenv("RPC_TEST_PLUGIN_DIR", dir) // for the package's internal tests
		return m.Run()
	}())
}

// plugin returns the path of a built example plugin.
func plugin(name string) string { return filepath.Join(bin, name) }

// casesSpec is a stage running the cases plugin in the given mode.
func casesSpec(args ...string) engine.StageSpec {
	return engine.StageSpec{Name: "p", Type: "rpc", Path: plugin("cases"),
		Extra: engine.ConfigOf(map[string]any{"args": args})}
}
