package main

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// `pipe ... >&-`: the Go runtime puts /dev/null where stdout was, so the
// records would vanish behind exit 0; pipe refuses to run instead. A
// redirect to /dev/null, or an output file, is fine.
func TestClosedStdoutFromTheStartFails(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("detected on linux and darwin only")
	}
	for _, c := range []struct {
		redirect string
		code     int
		stderr   string
	}{
		{">&-", 2, "standard output is closed"},
		{"> /dev/null", 0, ""},
		{"--output " + t.TempDir() + "/out >&-", 0, ""},
	} {
		cmd := exec.Command("sh", "-c", `printf 'a\nb\n' | "$0" run --native case --config to=upper `+c.redirect, pipeBin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := exitCode(err); code != c.code || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", c.redirect, code, stderr.String(), c.code, c.stderr)
		}
	}
}
