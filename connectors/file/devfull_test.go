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

// TestOutputToDeviceOrPipe: a file output or dead-letter file that is a
// character device or a pipe (`--output /dev/null`, `/dev/stdout` into a
// pipe, dead_letter /dev/stderr) has nothing to fsync: the run succeeds
// and writes every record (fsync's EINVAL there failed the run).
func TestOutputToDeviceOrPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pipe binary")
	}
	bin, err := pipeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "in.log"), "a\nb\nc\n", os.O_TRUNC)
	cases := []struct{ name, args, want string }{
		{"output /dev/null", "--output /dev/null", ""},
		{"output /dev/stdout into a pipe", "--output /dev/stdout", "A\nB\nC\n"},
		{"dead letter /dev/stderr", "dl", ""},
	}
	// Every line fails (not JSON) and goes to the dead-letter file.
	dl := filepath.Join(dir, "dl.yaml")
	write(t, dl, "input: {type: file, path: in.log}\ndead_letter: {path: /dev/stderr}\nstages: [{name: up, type: native, use: case, config: {field: msg, to: upper}, on_error: dead_letter}]\n", os.O_TRUNC)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--input", filepath.Join(dir, "in.log"), "--native", "case", "--config", "to=upper"}, strings.Fields(c.args)...)
			if c.args == "dl" {
				args = []string{"run", dl}
			}
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output() // stdout is a pipe
			if err != nil {
				t.Fatalf("%v: %v\nstderr: %s", args, err, stderr.String())
			}
			if string(out) != c.want {
				t.Errorf("stdout %q, want %q", out, c.want)
			}
			if c.args == "dl" && strings.Count(stderr.String(), `"stage":"up"`) != 3 {
				t.Errorf("dead-letter lines on stderr: want 3 of stage up:\n%s", stderr.String())
			}
		})
	}
}
