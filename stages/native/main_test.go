package native_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// The tests build their plugins themselves, with the flags of the test
// binary (go test -race makes a -race host, which loads only -race
// plugins), into one directory per run.
var (
	buildDir  string
	raceTests bool
	buildMu   sync.Mutex
	built     = map[string]error{}
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "native-plugins-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		buildDir = dir
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "-race" && s.Value == "true" {
					raceTests = true
				}
			}
		}
		return m.Run()
	}())
}

// build runs a build command once per test binary; out is the file it makes.
func buildOnce(t testing.TB, out string, dir string, args ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if len(built) == 0 {
		// The plugins' sources are read by go build, not by this process:
		// open them (after m.Run has started go test's log of opened
		// files) so that a change to one invalidates a cached result.
		filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if f, err := os.Open(path); err == nil {
					f.Close()
				}
			}
			return nil
		})
	}
	err, ok := built[out]
	if !ok {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		b, e := cmd.CombinedOutput()
		if e != nil {
			err = fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), e, b)
		}
		built[out] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// plugin builds testdata/plugins/NAME as a Go plugin with the test
// binary's -race flag, or the opposite one if otherRace.
func plugin(t testing.TB, name string, otherRace bool) string {
	race := raceTests != otherRace
	out := filepath.Join(buildDir, name+map[bool]string{true: "-race", false: ""}[race]+".so")
	args := []string{"go", "build", "-buildmode=plugin"}
	if race {
		args = append(args, "-race")
	}
	return buildOnce(t, out, ".", append(args, "-o", out, "./testdata/plugins/"+name)...)
}
