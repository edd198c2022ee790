package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// TestCommandTreeForArgs: a command run with the tree rootFor builds for
// its arguments (the root and that command alone) prints, writes and exits
// as with the whole tree: help, usage errors, flags, runs.
func TestCommandTreeForArgs(t *testing.T) {
	cases := [][]string{
		{}, {"--help"}, {"help"}, {"help", "run"}, {"rum"}, {"completion"}, {"completion", "tcsh"},
		{"__complete", "run", "--na"}, {"__complete", "r"}, {"--log-level", "debug", "version"},
		{"run", "--help"}, {"run", "-h"}, {"run", "--bogus"}, {"run", "a.yaml", "b.yaml"}, {"run", "--native", "case", "--config", "to=upper"},
		{"run", "--native", "nope"}, {"run", "--config", "to=upper"}, {"run", "--log-level", "loud"}, {"run", "--log-format", "json", "--native", "nope"},
		{"run", "help"}, {"run", "--", "--help"},
		{"lint", "--help"}, {"lint"}, {"lint", "nope.yaml"}, {"test", "--help"}, {"bench", "--help"}, {"plugins"}, {"plugins", "--help"},
		{"plugins", "list", "--help"}, {"plugins", "nope"}, {"schema", "x"}, {"version", "--help"}, {"version", "x"},
		{"stages", "select"}, {"stages", "nope"}, {"docs"}, {"docs", "--help"},
	}
	for _, args := range cases {
		full, fullOut, fullErr := runTree(t, args, true)
		lazy, lazyOut, lazyErr := runTree(t, args, false)
		if full != lazy || fullOut != lazyOut || fullErr != lazyErr {
			t.Errorf("pipe %s: whole tree exit %d, stdout %q, stderr %q; rootFor exit %d, stdout %q, stderr %q",
				strings.Join(args, " "), full, fullOut, fullErr, lazy, lazyOut, lazyErr)
		}
	}
	if _, out, _ := runTree(t, []string{"run", "--help"}, false); !strings.Contains(out, "--native") || !strings.Contains(out, "--log-level") {
		t.Errorf("run --help lacks its or the root's flags:\n%s", out)
	}
}

var logTime = regexp.MustCompile(`"time":"[^"]*"`)

func runTree(t *testing.T, args []string, whole bool) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader("a\nb\n"), stdout: &out, stderr: &errb, reg: engine.DefaultRegistry}
	root := a.rootFor(args)
	if whole {
		root = a.rootCmd()
	}
	code := a.execute(root, args)
	return code, out.String(), logTime.ReplaceAllString(errb.String(), `"time":"T"`)
}
