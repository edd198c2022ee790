package file_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pipe-dev/pipe/connectors/internal/compress"
	"github.com/pipe-dev/pipe/engine"
)

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCompressedOutputByName(t *testing.T) {
	for _, name := range []string{"out.gz", "out.zst"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "in.log"), "a\nb\n", os.O_TRUNC)
			yaml := "input: {type: file, path: in.log}\noutput: {type: file, path: " + name + ", append: true}\n"
			for range 2 { // appending adds a member (gzip) or frame (zstd)
				if _, err := run(t, dir, yaml); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var r io.Reader
			if strings.HasSuffix(name, ".gz") {
				zr, err := gzip.NewReader(f)
				if err != nil {
					t.Fatalf("not gzip: %v", err)
				}
				r = zr
			} else {
				zr, err := zstd.NewReader(f)
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				r = zr
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != "a\nb\na\nb\n" {
				t.Fatalf("decompressed %q, %v", got, err)
			}
		})
	}
}

func TestCompressedInputByMagic(t *testing.T) {
	dir := t.TempDir()
	// The name does not say it; the first bytes do.
	write(t, filepath.Join(dir, "app.log"), string(gzipped(t, "x\ny\n")), os.O_TRUNC)
	out, err := run(t, dir, "input: {type: file, path: app.log}\n")
	if err != nil || out != "x\ny\n" {
		t.Fatalf("%q, %v", out, err)
	}
	// stdin: pipe run p.yaml < app.log.gz
	var stdout bytes.Buffer
	p := build(t, dir, "name: stdin\n")
	if err := p.Run(context.Background(), bytes.NewReader(gzipped(t, "s1\ns2\n")), &stdout); err != nil || stdout.String() != "s1\ns2\n" {
		t.Fatalf("stdin: %q, %v", stdout.String(), err)
	}
	// Plain text is left alone, also when a short first read could
	// begin a magic number.
	stdout.Reset()
	p = build(t, dir, "name: stdin\n")
	if err := p.Run(context.Background(), strings.NewReader("\x1f\n"), &stdout); err != nil || stdout.String() != "\x1f\n" {
		t.Fatalf("plain: %q, %v", stdout.String(), err)
	}
}

func TestTruncatedGzip(t *testing.T) {
	dir := t.TempDir()
	full := gzipped(t, strings.Repeat("a line of text\n", 1000))
	write(t, filepath.Join(dir, "cut.log.gz"), string(full[:len(full)/2]), os.O_TRUNC)
	_, err := run(t, dir, "input: {type: file, path: cut.log.gz}\n")
	if !errors.Is(err, compress.ErrTruncated) || strings.Count(err.Error(), "cut.log.gz") != 1 {
		t.Fatalf("err = %v, want a truncation error naming the file once", err)
	}
	// stdin: pipe run p.yaml < cut.log.gz
	err = build(t, dir, "name: stdin\n").Run(context.Background(), bytes.NewReader(full[:len(full)/2]), io.Discard)
	if !errors.Is(err, compress.ErrTruncated) || strings.Count(err.Error(), "stdin") != 1 {
		t.Fatalf("stdin: err = %v, want a truncation error naming stdin once", err)
	}
}

func TestOutputReplacedAtTheEnd(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "in.log"), "new\n", os.O_TRUNC)
	out := filepath.Join(dir, "out.txt")
	write(t, out, "old\n", os.O_TRUNC)
	// A stage that cannot start: the old output stays as it was.
	spec, err := engine.Parse([]byte("input: {type: file, path: in.log}\noutput: {type: file, path: out.txt}\n"), filepath.Join(dir, "p.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec.Stages = append(spec.Stages, engine.StageSpec{Name: "bad", New: func() (engine.Transformer, error) { return nil, errors.New("cannot start") }})
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), nil, nil); err == nil {
		t.Fatal("a broken stage ran")
	}
	if b, _ := os.ReadFile(out); string(b) != "old\n" {
		t.Fatalf("output after a failed start: %q, want it untouched", b)
	}
	if _, err := run(t, dir, "input: {type: file, path: in.log}\noutput: {type: file, path: out.txt}\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "new\n" {
		t.Fatalf("output: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".pipe-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// A replaced output delivers when the run ends: the checkpoint covers the
// records only then, and not at all when the run fails.
func TestCheckpointWithReplacedOutput(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "in.log"), "a\nb\n", os.O_TRUNC)
	yaml := "input: {type: file, path: in.log, checkpoint: ck.json, checkpoint_interval: 0s}\noutput: {type: file, path: out.txt}\n"
	if _, err := run(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	ck, _ := os.ReadFile(filepath.Join(dir, "ck.json"))
	out, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
	if string(out) != "a\nb\n" || !strings.Contains(string(ck), `"offset": 4`) {
		t.Fatalf("out %q, checkpoint %s", out, ck)
	}
}

// A run that fails before it reads a record (a .gz cut before its first
// line) leaves every file output as it was, the named outputs of outputs:
// too, and no temporary file behind.
func TestOutputsLeftAsTheyWereOnEarlyFailure(t *testing.T) {
	dir := t.TempDir()
	full := gzipped(t, "a line of text\n")
	write(t, filepath.Join(dir, "cut.log.gz"), string(full[:10]), os.O_TRUNC)
	for _, name := range []string{"main.txt", "errs.txt"} {
		write(t, filepath.Join(dir, name), "old\n", os.O_TRUNC)
	}
	_, err := run(t, dir, "input: {type: file, path: cut.log.gz}\noutput: {type: file, path: main.txt}\n"+
		"outputs: {errs: {type: file, path: errs.txt}}\nstages: [{name: f, fanout: [{to: output}, {to: errs}]}]\n")
	if !errors.Is(err, compress.ErrTruncated) {
		t.Fatalf("err = %v, want the truncation", err)
	}
	for _, name := range []string{"main.txt", "errs.txt"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "old\n" {
			t.Errorf("%s after a run that failed before its first record: %q, want it untouched", name, b)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".pipe-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
