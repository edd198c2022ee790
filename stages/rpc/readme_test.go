package rpc_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestREADMEPluginIsW1: the README's Go plugin is testdata/bench/w1 (which
// TestMain builds), so the example compiles with the SDK as written.
func TestREADMEPluginIsW1(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no Go example")
	}
	src, err := os.ReadFile("testdata/bench/w1/main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(src), "package main")
	if string(m[1]) != "package main"+body {
		t.Errorf("README.md's Go example differs from testdata/bench/w1/main.go (after its doc comment):\n%s", m[1])
	}
}
