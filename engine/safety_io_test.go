package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func numberedLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// An output or dead-letter file that is an input file, or that the input
// glob matches, is refused with a configuration error, by name at build
// time and by device and inode at run time; the input is left intact
// (issue 17 items 2 and 3).
func TestOutputThatIsAnInputIsRefused(t *testing.T) {
	cases := []struct {
		name, yaml string
		stdout     string // a file of dir to run with as stdout
		msg        string
	}{
		{"same path", "input: {type: file, path: f}\noutput: {type: file, path: ./f}\n", "", "is an input file"},
		{"hard link", "input: {type: file, path: f}\noutput: {type: file, path: link}\n", "", "is the input file"},
		{"glob", "input: {type: file, path: 'logs/*.log'}\noutput: {type: file, path: logs/out.log}\n", "", "is an input file"},
		{"stdout is the input", "input: {type: file, path: f}\n", "f", "standard output is the input file"},
		{"dead letter is the output", "input: {type: file, path: f}\noutput: {type: file, path: o}\ndead_letter: {path: o}\nstages: [{name: s, type: native, use: trim, on_error: dead_letter}]\n", "", "dead_letter.path o is also the output file"},
		{"dead letter is stdout", "input: {type: file, path: f}\ndead_letter: {path: dl}\nstages: [{name: s, type: native, use: trim, on_error: dead_letter}]\n", "dl", "is also the standard output"},
		{"named output in the glob", "input: {type: file, path: 'logs/*'}\noutputs: {errs: {type: file, path: logs/errs}}\nstages: [{name: s, fanout: [{to: output}, {to: errs}]}]\n", "", "output errs file logs/errs is an input file"},
		{"dead letter in the glob", "input: {type: file, path: 'logs/*'}\ndead_letter: {path: logs/rejects}\nstages: [{name: s, type: native, use: trim, on_error: dead_letter}]\n", "", "dead_letter.path logs/rejects is an input file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := numberedLines(1001)
			writeFile(t, filepath.Join(dir, "f"), []byte(in))
			writeFile(t, filepath.Join(dir, "dl"), nil)
			if err := os.Link(filepath.Join(dir, "f"), filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			os.Mkdir(filepath.Join(dir, "logs"), 0o755)
			writeFile(t, filepath.Join(dir, "logs", "a.log"), []byte(in))
			var stdout io.Writer = &bytes.Buffer{}
			if c.stdout != "" {
				f, err := os.OpenFile(filepath.Join(dir, c.stdout), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdout = f
			}
			var err error
			p, err := Load(writeSpec(t, dir, c.yaml))
			if err == nil {
				err = p.Run(context.Background(), strings.NewReader(""), stdout)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want a configuration error containing %q", err, c.msg)
			}
			for _, f := range []string{"f", "logs/a.log"} {
				if got, _ := os.ReadFile(filepath.Join(dir, f)); string(got) != in {
					t.Errorf("%s changed: %d bytes", f, len(got))
				}
			}
		})
	}
}

// An existing output file survives a run that fails before it reads a
// record, such as one whose dead-letter file cannot be opened; a run that
// reads replaces it (keeping its mode), and append: true appends (issue 17
// item 4).
func TestOutputFileReplacedOnlyByARun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o")
	writeFile(t, filepath.Join(dir, "f"), []byte("a\nb\n"))
	writeFile(t, out, []byte("precious\n"))
	os.Chmod(out, 0o640)
	_, err := runYAML(t, dir, "input: {type: file, path: f}\noutput: {type: file, path: o}\ndead_letter: {path: nodir/dl}\n"+
		"stages: [{name: s, type: native, use: trim, on_error: dead_letter}]\n", "")
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "precious\n" {
		t.Fatalf("output = %q after a configuration error, want it untouched", got)
	}
	if _, err := runYAML(t, dir, "input: {type: file, path: f}\noutput: {type: file, path: o}\n", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "a\nb\n" {
		t.Fatalf("output = %q, want the records", got)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old file's 0640", st.Mode().Perm())
	}
	if _, err := runYAML(t, dir, "input: {type: file, path: f}\noutput: {type: file, path: o, append: true}\n", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "a\nb\na\nb\n" {
		t.Fatalf("output = %q, want the records appended", got)
	}
	// A run stopped by a failing record keeps what it wrote before it.
	_, err = runYAML(t, dir, "input: {type: file, path: f}\noutput: {type: file, path: o}\nstages: [{name: s, type: native, use: select, config: {field: x, exists: true}}]\n", "")
	if err == nil {
		t.Fatal("want the run to fail (records are not JSON)")
	}
	if got, _ := os.ReadFile(out); string(got) != "" {
		t.Errorf("output = %q, want what the failed run wrote (nothing)", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".pipe-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	_, err = runYAML(t, dir, "output: {append: true}\n", "")
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "append") {
		t.Errorf("append on stdout: err = %v", err)
	}
}

// A truncated .gz writes every whole record decoded before the error, then
// fails (issue 17 item 8).
func TestTruncatedGzipWritesWhatItDecoded(t *testing.T) {
	dir := t.TempDir()
	var full bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&full, `{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", 60))
	}
	z := gz(t, full.String())
	z = z[:len(z)/2]
	writeFile(t, filepath.Join(dir, "in.ndjson.gz"), z)
	// What the input's decompressor can decode: the whole lines before
	// the cut.
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	decoded, rerr := io.ReadAll(zr)
	if rerr == nil {
		t.Fatal("the truncated file decodes without error")
	}
	want := string(decoded[:bytes.LastIndexByte(decoded, '\n')+1])
	out, err := runYAML(t, dir, "input: {type: file, path: in.ndjson.gz, codec: ndjson}\n", "")
	if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("err = %v, want the truncation reported", err)
	}
	if out != want {
		t.Errorf("wrote %d records, want the %d decoded before the error", strings.Count(out, "\n"), strings.Count(want, "\n"))
	}
}
