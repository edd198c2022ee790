package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func zst(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func runYAML(t *testing.T, dir, yaml string, stdin string) (string, error) {
	t.Helper()
	file := filepath.Join(dir, "p.yaml")
	writeFile(t, file, []byte(yaml))
	p, err := Load(file)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	err = p.Run(context.Background(), strings.NewReader(stdin), &out)
	return out.String(), err
}

// A glob reads its files in sorted order, decompressing .gz and .zst; a
// last line without newline is still a record.
func TestFileInputGlobCompressed(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "logs"), 0o755)
	writeFile(t, filepath.Join(dir, "logs", "a.log"), []byte("a1\na2"))
	writeFile(t, filepath.Join(dir, "logs", "b.log.gz"), gz(t, "b1\nb2\n"))
	writeFile(t, filepath.Join(dir, "logs", "c.log.zst"), zst(t, "c1\n"))
	writeFile(t, filepath.Join(dir, "logs", "skip.txt"), []byte("nope\n"))
	out, err := runYAML(t, dir, "input: {type: file, path: 'logs/*.log*'}\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if out != "a1\na2\nb1\nb2\nc1\n" {
		t.Errorf("out = %q", out)
	}
}

func TestCorruptGzipIsAnError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.gz"), []byte("not gzip at all"))
	_, err := runYAML(t, dir, "input: {type: file, path: x.gz}\n", "")
	if err == nil || !strings.Contains(err.Error(), "x.gz") {
		t.Fatalf("err = %v, want an error naming x.gz", err)
	}
}

// raw makes each file (or stdin) one record.
func TestRawCodec(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "1.txt"), []byte("one\nfile\n"))
	writeFile(t, filepath.Join(dir, "2.txt"), []byte("two"))
	p, err := Load(writeSpec(t, dir, "input: {type: file, path: '*.txt', codec: raw}\noutput: {codec: lines}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\nfile\n\ntwo\n" {
		t.Errorf("out = %q, want two records: the files", out.String())
	}
	if st := p.Stats(); st[0].In != 2 {
		t.Errorf("input read %d records, want 2", st[0].In)
	}
}

func writeSpec(t *testing.T, dir, yaml string) string {
	f := filepath.Join(dir, "p.yaml")
	writeFile(t, f, []byte(yaml))
	return f
}

func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	out, err := runYAML(t, dir, "output: {type: file, path: out/o.txt}\n", "x\n")
	if err == nil {
		t.Fatalf("missing output directory: want an error, got output %q", out)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 1 {
		t.Errorf("err = %v, want a positioned config error", err)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	if _, err := runYAML(t, dir, "output: {type: file, path: out/o.txt}\n", "x\ny\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "o.txt")); string(b) != "x\ny\n" {
		t.Errorf("file = %q", b)
	}
}

// Under an ndjson output, records that are not one JSON value are record
// errors of the output (never invalid NDJSON on disk); JSON spread over
// lines is compacted onto one.
func TestNDJSONOutputValidated(t *testing.T) {
	dir := t.TempDir()
	yaml := "input: {codec: lines}\noutput: {codec: ndjson}\ndefaults: {on_error: drop}\n"
	out, err := runYAML(t, dir, yaml, "{\"a\":1}\nnot json\n[1,2]\n")
	if err != nil {
		t.Fatal(err)
	}
	if out != "{\"a\":1}\n[1,2]\n" {
		t.Errorf("out = %q", out)
	}
	_, err = runYAML(t, dir, "input: {codec: lines}\noutput: {codec: ndjson}\n", "{\"a\":1}\noops\n")
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "output" || se.Record != 2 {
		t.Errorf("err = %v, want output failing record 2", err)
	}
	split := TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error {
		r.Data = []byte("{\n  \"multi\": [1,\n 2]\n}")
		emit(r)
		return nil
	})
	p, _ := Build(&Spec{Input: InputSpec{Codec: "ndjson"}, Stages: []StageSpec{goStageSpec("s", 1, func() Transformer { return split })}})
	var b bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader("{}\n"), &b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\"multi\":[1,2]}\n" {
		t.Errorf("multi-line JSON written as %q", b.String())
	}
}

func TestInvalidUTF8Validation(t *testing.T) {
	dir := t.TempDir()
	out, err := runYAML(t, dir, "input: {validate_utf8: true, on_error: drop}\n", "ok\n\xff\xfe\nfine\n")
	if err != nil || out != "ok\nfine\n" {
		t.Fatalf("out = %q, err = %v", out, err)
	}
	out, err = runYAML(t, dir, "input: {}\n", "\xff\n")
	if err != nil || out != "\xff\n" {
		t.Fatalf("without validate_utf8 bytes pass as they are: %q, %v", out, err)
	}
}
