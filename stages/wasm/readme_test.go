package wasm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine/enginetest"
)

// TestREADMEExample runs the README's example pipeline as written; only the
// modules come from the test's build directory instead of testdata/bin.
func TestREADMEExample(t *testing.T) {
	enginetest.RunREADMEExamplesMapped(t, "README.md", func(p string) string {
		name := strings.TrimSuffix(filepath.Base(p), ".wasm")
		switch filepath.Base(filepath.Dir(p)) {
		case "wat":
			return wat(t, name)
		case "c":
			return cGuest(t, name)
		}
		return guest(name)
	})
}

// TestREADMEGuest checks that the README's Go guest is the example guest
// that the test builds.
func TestREADMEGuest(t *testing.T) {
	md, _ := os.ReadFile("README.md")
	src, err := os.ReadFile("testdata/guests/upper/main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatal("README has no Go guest")
	}
	// The file has a doc comment on top; the README shows the code.
	if !bytes.HasSuffix(src, m[1]) {
		t.Errorf("README's Go guest is not testdata/guests/upper/main.go:\n%s", m[1])
	}
}
