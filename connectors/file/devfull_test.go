package file_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailedWriteFailsRun: a stream output (stdout, or a file) whose
// write fails (/dev/full: ENOSPC) fails the run with exit status 1 and
// the cause, and nothing is acknowledged: the input's checkpoint stays at
// the start, so a rerun reads every record again.
func TestFailedWriteFailsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pipe binary")
	}
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	bin, err := pipeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var data strings.Builder
	for i := range 50000 {
		data.WriteString(strings.Repeat("x", i%50) + "\n")
	}
	write(t, filepath.Join(dir, "in.log"), data.String(), os.O_TRUNC)
	cases := []struct{ name, output string }{
		{"stdout", ""},
		{"file append", "output: {type: file, path: /dev/full, append: true}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".ck")
			pipeline := filepath.Join(dir, "p.yaml")
			write(t, pipeline, "input: {type: file, path: in.log, checkpoint: '"+ck+"', checkpoint_interval: 0s}\n"+c.output, os.O_TRUNC)
			cmd := exec.Command(bin, "run", pipeline)
			full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = full, &stderr
			err = cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("run: %v, want exit status 1\nstderr: %s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "no space left on device") {
				t.Errorf("stderr does not give the cause:\n%s", stderr.String())
			}
			b, err := os.ReadFile(ck)
			if os.IsNotExist(err) {
				return // nothing acknowledged, nothing written
			}
			var cf struct {
				Files []struct {
					Offset int64 `json:"offset"`
				} `json:"files"`
			}
			if err := json.Unmarshal(b, &cf); err != nil {
				t.Fatalf("checkpoint: %v\n%s", err, b)
			}
			for _, f := range cf.Files {
				if f.Offset != 0 {
					t.Errorf("checkpoint at %d after a run that wrote nothing", f.Offset)
				}
			}
		})
	}
}
