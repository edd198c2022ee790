package wasm_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/wasm"
)

// bin holds the guests, built by TestMain: the Go guests with the go tool,
// the WAT modules with wat2wasm when it is installed (make fixtures
// installs it; without it the WAT tests are skipped).
var (
	bin    string
	watErr error
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "wasm-guests-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := buildGuests(dir); err != nil {
			fmt.Fprintln(os.Stderr, "building the test guests:", err)
			return 1
		}
		bin = dir
		os.Setenv("WASM_TEST_GUEST_DIR", dir) // for the package's internal tests
		return m.Run()
	}())
}

func buildGuests(dir string) error {
	var pkgs []string
	for _, glob := range []string{"testdata/guests/*", "testdata/bench/w*"} {
		m, _ := filepath.Glob(glob)
		pkgs = append(pkgs, m...)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, 2)
	for i, p := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(dir, filepath.Base(p)+".wasm"), "./"+p)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %v\n%s", p, err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	wats, _ := filepath.Glob("testdata/wat/*.wat")
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		watErr = fmt.Errorf("wat2wasm not installed (make fixtures installs Debian's wabt): %w", err)
		return nil
	}
	for _, w := range wats {
		out := filepath.Join(dir, "wat-"+strings.TrimSuffix(filepath.Base(w), ".wat")+".wasm")
		if b, err := exec.Command("wat2wasm", w, "-o", out).CombinedOutput(); err != nil {
			return fmt.Errorf("wat2wasm %s: %v\n%s", w, err, b)
		}
	}
	return nil
}

// guest returns the path of a built Go guest.
func guest(name string) string { return filepath.Join(bin, name+".wasm") }

// wat returns the path of a built WAT module, skipping the test when
// wat2wasm is missing.
func wat(t testing.TB, name string) string {
	t.Helper()
	if watErr != nil {
		t.Skip(watErr)
	}
	return filepath.Join(bin, "wat-"+name+".wasm")
}

// casesSpec is a stage running the cases guest in the given mode.
func casesSpec(mode string) engine.StageSpec {
	return engine.StageSpec{Name: "g", Type: "wasm", Path: guest("cases"),
		Config: engine.ConfigOf(map[string]any{"case": mode})}
}
