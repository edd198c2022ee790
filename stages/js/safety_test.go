package js_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failing is a pipeline of one ndjson js stage under on_error: fail.
func failing(code string) string {
	return "input: {codec: ndjson}\nstages:\n  - name: s\n    type: js\n    code: |\n      " + code + "\n"
}

// A JSON record that repeats a key fails before the script runs (package
// jsonkey): the script could otherwise delete one and pass the other.
func TestDuplicateKeysFailTheRecord(t *testing.T) {
	for _, in := range []string{
		`{"password":"a","password":"secret"}`,
		`{"password":"a","pass\u0077ord":"secret"}`,
		`{"user":{"id":1,"id":2}}`,
		`[{"k":1,"k":2}]`,
	} {
		out, _, err := run(t, failing("delete rec.password; return rec"), in+"\n")
		if err == nil || !strings.Contains(err.Error(), "record 1: duplicate key") || out != "" {
			t.Errorf("%s: out %q, err %v; want a duplicate key record error", in, out, err)
		}
	}
	out, _, err := run(t, failing("delete rec.password; return rec"), `{"password":"a","u":{"password":1},"v":[{"password":2}]}`+"\n")
	if err != nil || out != `{"u":{"password":1},"v":[{"password":2}]}`+"\n" {
		t.Errorf("keys repeated in other objects: out %q, err %v", out, err)
	}
}

// NaN and ±Infinity are record errors, as in the lua stage, not null.
func TestNonFiniteNumbersFailTheRecord(t *testing.T) {
	for _, code := range []string{
		"rec.n = Infinity; return rec",
		"return {a: NaN}",
		"return {a: [1, -Infinity]}",
		"return NaN",
		"return {a: null, b: new Number(NaN)}",
		"rec.x = {y: 0/0}; return rec",
		"emit({v: 1/0}); return null",
	} {
		out, _, err := run(t, failing(code), `{"n":1}`+"\n")
		if err == nil || !strings.Contains(err.Error(), "JSON has no NaN or Infinity") || out != "" {
			t.Errorf("%s: out %q, err %v; want a record error", code, out, err)
		}
	}
	out, _, err := run(t, failing("return {a: null, b: [null, 1.5]}"), `{"n":1}`+"\n")
	if err != nil || out != `{"a":null,"b":[null,1.5]}`+"\n" {
		t.Errorf("null stays null: out %q, err %v", out, err)
	}
}

// TestSourceMapCommentReadsNothing: goja reads the file a
// "//# sourceMappingURL=" comment names, when it compiles the stage's code
// and when the script calls eval or Function. The sandbox turns source
// maps off: the comment names a FIFO, and nobody ever opens it for reading
// (a reader would block in open until a writer came; /dev/zero would
// have been read until memory ran out).
func TestSourceMapCommentReadsNothing(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "map")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// goja resolves the comment's path against the script's name, which
	// has no directory, so a path relative to the working directory
	// reaches any file ("../../dev/zero").
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, fifo)
	if err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int32
	done := make(chan struct{})
	served := make(chan struct{})
	go func() { // opens the FIFO for writing whenever a reader has it open
		defer close(served)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil { // a reader is there: count it and let it go
				opened.Add(1)
				f.Close()
			}
		}
	}()
	for _, code := range []string{
		"return rec\n//# sourceMappingURL=" + rel,
		"return eval(\"1\\n//# sourceMappingURL=" + rel + "\") === 1 ? rec : null",
		"return new Function(\"return 1\\n//# sourceMappingURL=" + rel + "\")() === 1 ? rec : null",
	} {
		out, _, err := run(t, stage(code), "{\"a\":1}\n")
		if err != nil || out != "{\"a\":1}\n" {
			t.Errorf("%q: out %q, err %v", code, out, err)
		}
	}
	close(done)
	<-served
	if n := opened.Load(); n > 0 {
		t.Errorf("the script's source map comments made pipe open the file they name %d times", n)
	}
}
