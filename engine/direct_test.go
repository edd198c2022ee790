package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// directRun runs yaml in dir with the direct output on or off and returns
// what a caller sees: the output, the error, the stats of the input and
// the output, the checkpoint file (if any), and how the direct output was
// used (lines counted, batches written).
type directRun struct {
	out, err, stats, ckpt string
	lines, batches        int
}

func runDirect(t *testing.T, dir, yaml string, direct bool) directRun {
	t.Helper()
	noDirect = !direct
	var mu sync.Mutex
	var r directRun
	testHookDirect = func(n int) {
		mu.Lock()
		defer mu.Unlock()
		if n < 0 {
			r.batches++
		} else {
			r.lines += n
		}
	}
	defer func() { noDirect, testHookDirect = false, nil }()
	os.Remove(filepath.Join(dir, "ck.json"))
	file := filepath.Join(dir, "p.yaml")
	writeFile(t, file, []byte(yaml))
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.Run(context.Background(), strings.NewReader(""), &out); err != nil {
		r.err = err.Error()
	}
	r.out = out.String()
	for _, s := range p.Stats() {
		r.stats += fmt.Sprintf("%s in %d passed %d out %d dropped %d errors %d not processed %d; ", s.Name, s.In, s.Passed, s.Out, s.Dropped, s.Errors, s.NotProcessed)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ck.json")); err == nil {
		r.ckpt = string(b)
	}
	return r
}

// A pipeline without stages whose input is a file writes its output from
// the input's goroutine (writeDirect), and plain lines go out as runs of
// bytes without records (CountLines): the output, the error and its
// record, the stats and the checkpoint are those of the general path
// (input → queue → output goroutine), whatever the lines, the limits and
// the codecs.
func TestDirectOutputMatchesGeneralPath(t *testing.T) {
	var crlf strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&crlf, "r%d\r\n\n%s\n", i, strings.Repeat(" ", i%7))
	}
	var nd strings.Builder
	for i := 1; i <= 6000; i++ {
		switch i {
		case 4321:
			nd.WriteString("{\"n\":4321,\n")
		case 17:
			nd.WriteString("   \n")
		default:
			fmt.Fprintf(&nd, "{\"n\":%d,\"pad\":%q}\n", i, strings.Repeat("x", i%300))
		}
	}
	data := map[string][]byte{
		"long.log":    readAheadData(3),                     // lines longer than a read and than the reserve
		"unterm.log":  append(readAheadData(5), "last"...),  // no newline at the end
		"crlf.log":    []byte(crlf.String()),                // empty lines, CRs, blanks
		"nul.log":     []byte("a\nb\x00c\n\xff\xfe\nd\n"),   // NUL, invalid UTF-8
		"in.ndjson":   []byte(nd.String()),                  // a malformed record at 4321
		"empty.log":   nil,                                  // nothing at all
		"oneline.log": []byte(strings.Repeat("y", 300<<10)), // one line over several reads, no newline
		"mixed.log":   []byte("a\nb\n" + strings.Repeat("z", 400<<10) + "\n" + strings.Repeat("c\n", 50<<10)),
		"short.log":   bytes.Repeat([]byte("x\n"), 100<<10), // more lines a read than a batch holds
	}
	dir := t.TempDir()
	for name, b := range data {
		writeFile(t, filepath.Join(dir, name), b)
	}
	for _, tc := range []struct {
		name, yaml string
		// use: how the direct output is used: lines counted (some
		// lines written as runs), batches (direct, but every line made a
		// record: too large for CountLines), none (the general path: records
		// checked, a checkpoint to keep, an output that looks at records).
		use string
		// outFails: the output fails, so how many records the input had
		// read by then (stats in, not processed) depends on timing in the
		// general path: those are not compared.
		outFails bool
	}{
		{"lines", "input: {type: file, path: long.log}\n", "lines", false},
		{"unterminated", "input: {type: file, path: unterm.log}\n", "lines", false},
		{"glob", "input: {type: file, path: '*.log'}\n", "lines", false},
		{"crlf", "input: {type: file, path: crlf.log}\n", "lines", false},
		{"short lines", "input: {type: file, path: short.log}\n", "lines", false},
		{"one long line", "input: {type: file, path: oneline.log}\n", "batches", false},
		{"a line over the limit among others", "input: {type: file, path: mixed.log, max_record_bytes: 300KiB, on_error: drop}\n", "lines", false},
		{"a line over the limit fails", "input: {type: file, path: mixed.log, max_record_bytes: 300KiB}\n", "lines", false},
		{"empty", "input: {type: file, path: empty.log}\n", "batches", false},
		{"too large dropped", "input: {type: file, path: long.log, max_record_bytes: 6000, on_error: drop}\n", "batches", false},
		{"too large fails", "input: {type: file, path: long.log, max_record_bytes: 6000}\n", "batches", false},
		{"too large fails unterminated", "input: {type: file, path: oneline.log, max_record_bytes: 100KiB}\n", "batches", false},
		{"checkpoint", "input: {type: file, path: unterm.log, checkpoint: ck.json}\n", "none", false},
		{"reject nul", "input: {type: file, path: nul.log, reject_nul: true, on_error: drop}\n", "none", false},
		{"validate utf8 fails", "input: {type: file, path: nul.log, validate_utf8: true}\n", "none", false},
		{"ndjson fails", "input: {type: file, path: in.ndjson, codec: ndjson}\n", "none", false},
		{"ndjson dropped", "input: {type: file, path: in.ndjson, codec: ndjson, on_error: drop}\n", "none", false},
		{"lines to ndjson", "input: {type: file, path: crlf.log}\noutput: {codec: ndjson, on_error: drop}\n", "none", true},
		{"lines to ndjson fails", "input: {type: file, path: crlf.log}\noutput: {codec: ndjson}\n", "none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := runDirect(t, dir, tc.yaml, false)
			if want.lines != 0 || want.batches != 0 {
				t.Fatalf("noDirect: the direct output was used (%d lines, %d batches)", want.lines, want.batches)
			}
			noMap = true
			got := runDirect(t, dir, tc.yaml, true)
			noMap = false
			checkDirect(t, tc.use, tc.outFails, got, want)
			// Mapped: every file (on Linux), in small windows, so that
			// lines cross windows and pieces, and some are longer than a
			// window.
			windows := mapSmall(t)
			got = runDirect(t, dir, tc.yaml, true)
			if tc.use == "lines" && runtime.GOOS == "linux" && *windows == 0 {
				t.Error("no window was mapped")
			}
			if tc.use == "none" && *windows != 0 {
				t.Errorf("%d windows mapped where the general path is needed", *windows)
			}
			t.Logf("%d windows mapped", *windows)
			if tc.use == "batches" {
				tc.use = "some" // mapped windows count lines of any size
			}
			checkDirect(t, tc.use, tc.outFails, got, want)
		})
	}
}

// mapSmall makes the direct output map any file (mapped_linux.go) in
// windows of 64 KiB, counted in pieces of 5000 bytes, halves of 1000
// bytes or more on two goroutines, until the test ends; it returns the
// number of windows mapped so far.
func mapSmall(t *testing.T) *int {
	window, piece, least, split := mapWindow, mapPiece, minMapBytes, minSplit
	var windows int
	mapWindow, mapPiece, minMapBytes, minSplit = 64<<10, 5000, 0, 1000
	testHookMapped = func(step string) {
		if step == "count" {
			windows++
		}
	}
	t.Cleanup(func() { mapWindow, mapPiece, minMapBytes, minSplit, testHookMapped = window, piece, least, split, nil })
	return &windows
}

// checkDirect compares a run of the direct output with one of the general
// path. use says how the direct output was to be used (see
// TestDirectOutputMatchesGeneralPath; "some": lines may be counted or
// made records); outFails that the output fails (the input's stats then
// depend on timing).
func checkDirect(t *testing.T, use string, outFails bool, got, want directRun) {
	t.Helper()
	switch {
	case use == "lines" && got.lines == 0:
		t.Error("no line was counted: all went through records")
	case use != "lines" && use != "some" && got.lines != 0:
		t.Errorf("%d lines counted where records are needed", got.lines)
	case use == "batches" && got.batches == 0 && want.out != "":
		t.Error("the direct output was not used")
	case use == "none" && got.batches+got.lines != 0:
		t.Errorf("the direct output was used (%d batches) where the general path is needed", got.batches)
	}
	if got.out != want.out {
		t.Errorf("output: direct %d bytes, general %d bytes (first difference at %d)", len(got.out), len(want.out), firstDiff(got.out, want.out))
	}
	if got.err != want.err {
		t.Errorf("error: direct %q, general %q", got.err, want.err)
	}
	if outFails {
		got.stats, want.stats = outputStats(got.stats), outputStats(want.stats)
	}
	if got.stats != want.stats {
		t.Errorf("stats: direct %s\ngeneral %s", got.stats, want.stats)
	}
	if got.ckpt != want.ckpt {
		t.Errorf("checkpoint: direct %s, general %s", got.ckpt, want.ckpt)
	}
}

// outputStats keeps the output's passed, out and errors of a stats line.
func outputStats(s string) string {
	_, o, _ := strings.Cut(s, "output in ")
	_, o, _ = strings.Cut(o, " ")
	o, _, _ = strings.Cut(o, " not processed")
	return o
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// signalWriter passes what it gets to a channel, one write at a time.
type signalWriter struct{ writes chan string }

func (w signalWriter) Write(p []byte) (int, error) {
	w.writes <- string(p)
	return len(p), nil
}

// A followed file through the direct output: lines appended while the run
// waits for more come out before the run ends (the output is flushed
// before each read that may wait), and a stop ends the run.
func TestDirectOutputFollowedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.log")
	writeFile(t, path, []byte("one\n"))
	file := filepath.Join(dir, "p.yaml")
	writeFile(t, file, []byte("input: {type: file, path: in.log, follow: true, poll_interval: 10ms}\n"))
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines int
	testHookDirect = func(n int) { lines += n } // the input's goroutine only
	defer func() { testHookDirect = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := signalWriter{make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, strings.NewReader(""), w) }()
	var out strings.Builder
	wait := func(want string) {
		t.Helper()
		timeout := time.After(30 * time.Second) // bounds a broken test only
		for out.String() != want {
			select {
			case s := <-w.writes:
				out.WriteString(s)
			case err := <-done:
				t.Fatalf("the run ended (%v) with output %q, want %q first", err, out.String(), want)
			case <-timeout:
				t.Fatalf("output %q, want %q", out.String(), want)
			}
		}
	}
	wait("one\n")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\nthree\n")
	f.Close()
	wait("one\ntwo\nthree\n")
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	if lines != 3 {
		t.Errorf("%d lines counted by the direct output, want 3", lines)
	}
}
