//go:build race

package bench

import (
	"os"
	"path/filepath"
)

// Under go test -race this test binary loads only -race Go plugins: point
// the native-so workloads at the -race builds that make fixtures makes.
func init() {
	if _, ok := os.LookupEnv("PIPE_SO_DIR"); !ok {
		dir, _ := filepath.Abs("../stages/native/testdata/so/race")
		os.Setenv("PIPE_SO_DIR", dir)
	}
}
