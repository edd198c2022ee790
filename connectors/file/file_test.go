package file_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/pipe-dev/pipe/connectors/file"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

func build(t *testing.T, dir, yaml string, opts ...engine.Option) *engine.Pipeline {
	t.Helper()
	file := filepath.Join(dir, "p.yaml")
	spec, err := engine.Parse([]byte(yaml), file, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, dir, yaml string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := build(t, dir, yaml).Run(context.Background(), nil, &out)
	return out.String(), err
}

func write(t *testing.T, path, data string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// test, the test is decided by the condition.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCheckpointResumes(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	write(t, log, "a\nb\n", os.O_TRUNC)
	yaml := "input: {type: file, path: app.log, checkpoint: state/ck.json}\n"
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, dir, yaml)
	if err != nil || out != "a\nb\n" {
		t.Fatalf("first run: %q, %v", out, err)
	}
	write(t, log, "c\nd", os.O_APPEND)
	out, err = run(t, dir, yaml)
	if err != nil || out != "c\nd\n" {
		t.Fatalf("second run: %q, %v; want only what was appended", out, err)
	}
	out, err = run(t, dir, yaml)
	if err != nil || out != "" {
		t.Fatalf("third run: %q, %v; want nothing", out, err)
	}
	// Another file in the same place (a new inode): read from its start.
	os.Remove(log)
	write(t, log, "x\n", os.O_TRUNC)
	out, err = run(t, dir, yaml)
	if err != nil || out != "x\n" {
		t.Fatalf("new file: %q, %v", out, err)
	}
}

func TestCheckpointOfCompressedFile(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("a\nb\n"))
	zw.Close()
	write(t, filepath.Join(dir, "a.gz"), b.String(), os.O_TRUNC)
	yaml := "input: {type: file, path: a.gz, checkpoint: ck.json}\n"
	if out, err := run(t, dir, yaml); err != nil || out != "a\nb\n" {
		t.Fatalf("first run: %q, %v", out, err)
	}
	if out, err := run(t, dir, yaml); err != nil || out != "" {
		t.Fatalf("second run: %q, %v", out, err)
	}
}

func TestCorruptCheckpoint(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "app.log"), "a\n", os.O_TRUNC)
	ck := filepath.Join(dir, "ck.json")
	write(t, ck, "{not json", os.O_TRUNC)
	_, err := run(t, dir, "input: {type: file, path: app.log, checkpoint: ck.json}\n")
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || ce.File != ck || !strings.Contains(err.Error(), "corrupt checkpoint") || !strings.Contains(err.Error(), "checkpoint_on_corrupt: restart") {
		t.Fatalf("err = %v, want a ConfigError naming %s", err, ck)
	}
	if b, _ := os.ReadFile(ck); string(b) != "{not json" {
		t.Errorf("the corrupt checkpoint was changed: %q", b)
	}
	out, err := run(t, dir, "input: {type: file, path: app.log, checkpoint: ck.json, checkpoint_on_corrupt: restart}\n")
	if err != nil || out != "a\n" {
		t.Fatalf("restart: %q, %v", out, err)
	}
	if b, _ := os.ReadFile(ck); !strings.Contains(string(b), `"offset": 2`) {
		t.Errorf("checkpoint after the restart:\n%s", b)
	}
}

func TestBadPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"input: {type: file, path: logs}\n", "is a directory"},
		{"input: {type: file, path: 'nothing-*.log'}\n", "matches no file"},
		{"input: {type: file, path: 'x[', follow: true}\n", "invalid glob"},
		{"input: {type: file, path: a.log, chekpoint: x}\n", `did you mean "checkpoint"`},
	} {
		file := filepath.Join(dir, "p.yaml")
		spec, err := engine.Parse([]byte(tc.yaml), file)
		if err == nil {
			var p *engine.Pipeline
			if p, err = engine.Build(spec); err == nil {
				err = p.Run(context.Background(), nil, &bytes.Buffer{})
			}
		}
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), file+":1:") {
			t.Errorf("%s: err = %v, want a positioned config error saying %q", strings.TrimSpace(tc.yaml), err, tc.want)
		}
	}
}

func TestFollow(t *testing.T) {
	dir := t.TempDir()
	logs := &testkit.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	p := build(t, dir, "input: {type: file, path: 'app.log*', follow: true, checkpoint: ck.json, poll_interval: 10ms, checkpoint_interval: 0s}\n",
		engine.WithLogger(logger))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, nil, out) }()
	has := func(s string) func() bool { return func() bool { return strings.Contains(out.String(), s) } }

	// A glob matching nothing waits, and says so once.
	waitFor(t, "the waiting message", func() bool { return strings.Contains(logs.String(), "waiting") })
	log := filepath.Join(dir, "app.log")
	write(t, log, "1\n2\n", os.O_TRUNC)
	waitFor(t, "the first lines", has("1\n2\n"))
	// An unfinished line is not a record until its newline comes.
	write(t, log, "3", os.O_APPEND)
	write(t, log, "x\n", os.O_APPEND)
	waitFor(t, "a line written in two parts", has("3x\n"))
	// Rotation by rename: the old file is finished, then the new one read.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, log+".1", "4\n", os.O_APPEND)
	write(t, log, "5\n", os.O_TRUNC)
	waitFor(t, "both files after the rotation", func() bool { return has("4\n")() && has("5\n")() })
	// Truncation: read again from the start.
	write(t, log, "6\n", os.O_TRUNC)
	waitFor(t, "the truncated file's new line", has("6\n"))
	// Deleted while open: what was written before is still read.
	other := filepath.Join(dir, "app.log.2")
	write(t, other, "7\n", os.O_TRUNC)
	waitFor(t, "a new file matching the glob", has("7\n"))
	f, err := os.OpenFile(other, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(other)
	f.WriteString("8\n")
	f.Close()
	waitFor(t, "the line of a deleted file", has("8\n"))
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	got := out.String()
	if got != "1\n2\n3x\n4\n5\n6\n7\n8\n" {
		t.Errorf("output %q", got)
	}
	if n := strings.Count(logs.String(), "waiting for one"); n != 1 {
		t.Errorf("the waiting message came %d times:\n%s", n, logs.String())
	}
	// Every line was delivered: the checkpoint covers each file's end.
	b, err := os.ReadFile(filepath.Join(dir, "ck.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"path": "` + log + `"`, `"offset": 2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("checkpoint lacks %s:\n%s", want, b)
		}
	}
	fmt.Fprint(os.Stderr)
}

// Dead-lettered records count as delivered: the checkpoint passes them,
// and the dead-letter file is synced with the output.
func TestCheckpointWithDeadLetters(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "app.log"), "{\"a\":1}\nnot json\n{\"a\":2}\n", os.O_TRUNC)
	yaml := "input: {type: file, path: app.log, codec: ndjson, on_error: dead_letter, checkpoint: ck.json}\n" +
		"output: {type: file, path: out.ndjson, append: true}\ndead_letter: {path: dl.ndjson}\n"
	if _, err := run(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out.ndjson"))
	dl, _ := os.ReadFile(filepath.Join(dir, "dl.ndjson"))
	ck, _ := os.ReadFile(filepath.Join(dir, "ck.json"))
	if string(out) != "{\"a\":1}\n{\"a\":2}\n" || !strings.Contains(string(dl), "not json") || !strings.Contains(string(ck), `"offset": 25`) {
		t.Fatalf("out %q\ndead letters %q\ncheckpoint %s", out, dl, ck)
	}
	if _, err := run(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "out.ndjson")); string(again) != string(out) {
		t.Errorf("a second run repeated records: %q", again)
	}
}

// A checkpointed input resumes where delivery stopped, so a file output
// without append: true keeps what earlier runs wrote: it appends instead
// of replacing the file at the end of the run.
func TestCheckpointedInputKeepsEarlierOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	write(t, in, "a\nb\n", os.O_TRUNC)
	yaml := "input: {type: file, path: in.log, checkpoint: in.ckpt}\noutput: {type: file, path: out.log}\n"
	if _, err := run(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	write(t, in, "c\n", os.O_APPEND)
	if _, err := run(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out.log")); string(got) != "a\nb\nc\n" {
		t.Fatalf("output after two runs = %q, want every record delivered", got)
	}
	// Without a checkpoint the output is replaced by each run.
	yaml = "input: {type: file, path: in.log}\noutput: {type: file, path: out.log}\n"
	if _, err := run(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out.log")); string(got) != "a\nb\nc\n" {
		t.Fatalf("output = %q, want the input once", got)
	}
}

// TestFollowRotationDuringScan: a rotation (rename, then a new file under
// the old name) that lands between a scan's directory listing and its look
// at the names listed hides the renamed file from that listing. It must
// not be taken as gone, finished, and found again under its new name as a
// new file, read a second time from its start.
func TestFollowRotationDuringScan(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	write(t, log, "1\n2\n", os.O_TRUNC)
	var arm atomic.Bool
	var globs atomic.Int64
	file.SetTestHookAfterGlob(func() {
		globs.Add(1)
		if arm.CompareAndSwap(true, false) {
			if err := os.Rename(log, log+".1"); err != nil {
				panic(err)
			}
			if err := os.WriteFile(log, []byte("3\n"), 0o644); err != nil {
				panic(err)
			}
		}
	})
	defer file.SetTestHookAfterGlob(nil)
	p := build(t, dir, "input: {type: file, path: 'app.log*', follow: true, poll_interval: 5ms}\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, nil, out) }()
	waitFor(t, "the first lines", func() bool { return out.String() == "1\n2\n" })
	arm.Store(true)
	waitFor(t, "the rotated-in file's line", func() bool { return strings.Contains(out.String(), "3\n") })
	// Scans enough for a file taken as gone to be finished and found again.
	n := globs.Load()
	waitFor(t, "ten more scans", func() bool { return globs.Load() >= n+10 })
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if got := out.String(); got != "1\n2\n3\n" {
		t.Errorf("output %q, want each line once", got)
	}
}
