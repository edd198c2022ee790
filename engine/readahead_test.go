package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// readAheadData is lines of lengths from 0 to past several reads (80 KB
// arenas, 4 KB reserve), so that reads end inside short lines, inside lines
// longer than the reserve and inside lines longer than a whole read.
func readAheadData(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for i := 0; b.Len() < 3<<20; i++ {
		var n int
		switch r.IntN(20) {
		case 0:
			n = aheadReserve + r.IntN(3*aheadReserve) // longer than the reserve
		case 1:
			if r.IntN(4) == 0 {
				n = DefaultBatchBytes*2 + r.IntN(DefaultBatchBytes) // longer than a read
			}
		default:
			n = r.IntN(300)
		}
		fmt.Fprintf(&b, "%d:", i)
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), n))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// The read-ahead path frames a file exactly as the input bytes say: every
// line once, in order, also lines that span reads; the last line without a
// newline is a record; a checkpoint after the run is at the file's end.
func TestReadAheadFramesEveryLine(t *testing.T) {
	if !readAhead(true) {
		t.Skipf("GOMAXPROCS %d: files are not read ahead", runtime.GOMAXPROCS(0))
	}
	for _, tc := range []struct {
		name string
		tail string
	}{
		{"newline at the end", ""},
		{"last line unterminated", "last"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := append(readAheadData(7), tc.tail...)
			writeFile(t, filepath.Join(dir, "in.log"), data)
			out, err := runYAML(t, dir, "input: {type: file, path: in.log, checkpoint: ck.json, max_record_bytes: 1MiB}\n", "")
			if err != nil {
				t.Fatal(err)
			}
			want := string(data)
			if tc.tail != "" {
				want += "\n"
			}
			if out != want {
				t.Fatalf("output differs from the input: %d bytes, want %d", len(out), len(want))
			}
			ck, err := os.ReadFile(filepath.Join(dir, "ck.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cp struct{ Files []struct{ Offset int64 } }
			if err := json.Unmarshal(ck, &cp); err != nil || len(cp.Files) != 1 || cp.Files[0].Offset != int64(len(data)) {
				t.Fatalf("checkpoint %s (%v): want one file at offset %d", ck, err, len(data))
			}
		})
	}
}

// Lines over max_record_bytes are dropped (on_error: drop) wherever the
// reads cut them; every other line comes out, in order.
func TestReadAheadTooLargeLines(t *testing.T) {
	if !readAhead(true) {
		t.Skipf("GOMAXPROCS %d: files are not read ahead", runtime.GOMAXPROCS(0))
	}
	dir := t.TempDir()
	data := readAheadData(11)
	writeFile(t, filepath.Join(dir, "in.log"), data)
	const max = 6000
	out, err := runYAML(t, dir, fmt.Sprintf("input: {type: file, path: in.log, max_record_bytes: %d, on_error: drop}\n", max), "")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	dropped := 0
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if len(l) == 0 {
			continue
		}
		if len(l)-1 > max {
			dropped++
			continue
		}
		want.WriteString(l)
	}
	if dropped == 0 {
		t.Fatal("the data has no line over the limit")
	}
	if out != want.String() {
		t.Fatalf("output: %d bytes, want %d (%d lines dropped)", len(out), want.Len(), dropped)
	}
}

// ndjson through the read-ahead path: a malformed record fails the run
// with its number, after the records before it were written.
func TestReadAheadInvalidRecord(t *testing.T) {
	if !readAhead(true) {
		t.Skipf("GOMAXPROCS %d: files are not read ahead", runtime.GOMAXPROCS(0))
	}
	dir := t.TempDir()
	var b bytes.Buffer
	for i := 1; i <= 5000; i++ {
		if i == 4321 {
			b.WriteString("{\"n\":4321,\n")
			continue
		}
		fmt.Fprintf(&b, "{\"n\":%d,\"pad\":%q}\n", i, strings.Repeat("x", i%100))
	}
	writeFile(t, filepath.Join(dir, "in.ndjson"), b.Bytes())
	out, err := runYAML(t, dir, "input: {type: file, path: in.ndjson, codec: ndjson}\n", "")
	var se *StageError
	if !errors.As(err, &se) || se.Record != 4321 || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("err = %v, want a malformed JSON error at record 4321", err)
	}
	if n := strings.Count(out, "\n"); n != 4320 {
		t.Fatalf("%d records written before the failure, want 4320", n)
	}
}

// A followed file whose reader waits in the middle of a long line: a
// record that fails the run before it ends the run (the framer cancels
// the reader's read instead of waiting for the line to end).
func TestReadAheadStopsWaitingReader(t *testing.T) {
	if !readAhead(true) {
		t.Skipf("GOMAXPROCS %d: files are not read ahead", runtime.GOMAXPROCS(0))
	}
	dir := t.TempDir()
	data := "not json\n" + strings.Repeat("x", 3*DefaultBatchBytes) // no newline: the writer is mid-line
	writeFile(t, filepath.Join(dir, "in.log"), []byte(data))
	done := make(chan error, 1)
	go func() {
		_, err := runYAML(t, dir, "input: {type: file, path: in.log, codec: ndjson, follow: true, poll_interval: 10ms}\n", "")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "malformed JSON") {
			t.Fatalf("err = %v, want the malformed record's error", err)
		}
	case <-time.After(30 * time.Second): // bounds a broken test only
		t.Fatal("the run did not end after its input failed")
	}
}

// ndjson through the read-ahead path, with malformed, blank and padded
// lines everywhere (the reader checks every other read, the framer the
// rest and the lines across reads): exactly the valid records come out,
// trimmed, in order.
func TestReadAheadNDJSONChecks(t *testing.T) {
	if !readAhead(true) {
		t.Skipf("GOMAXPROCS %d: files are not read ahead", runtime.GOMAXPROCS(0))
	}
	for _, maxPad := range []int{200, 4} { // 4: more than a batch of records per read
		t.Run(fmt.Sprint("pad ", maxPad), func(t *testing.T) { readAheadNDJSON(t, maxPad) })
	}
}

func readAheadNDJSON(t *testing.T, maxPad int) {
	r := rand.New(rand.NewPCG(3, 4))
	var in, want bytes.Buffer
	for i := 0; in.Len() < 2<<20; i++ {
		pad := strings.Repeat("y", r.IntN(maxPad))
		if r.IntN(50) == 0 {
			pad = strings.Repeat("z", 5000+r.IntN(20000))
		}
		rec := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, pad)
		switch r.IntN(12) {
		case 0: // malformed: dropped
			fmt.Fprintf(&in, "{\"n\":%d,\"pad\":\"%s\"\n", i, pad)
		case 1: // blank: no record
			in.WriteString(" \t\r\n")
		case 2: // blanks around it: trimmed
			fmt.Fprintf(&in, "  %s\t\r\n", rec)
			want.WriteString(rec + "\n")
		default:
			in.WriteString(rec + "\n")
			want.WriteString(rec + "\n")
		}
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in.Bytes())
	out, err := runYAML(t, dir, "input: {type: file, path: in.ndjson, codec: ndjson, on_error: drop}\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		got, exp := strings.Split(out, "\n"), strings.Split(want.String(), "\n")
		for i := range min(len(got), len(exp)) {
			if got[i] != exp[i] {
				t.Fatalf("record %d: got %.60q, want %.60q (%d records, want %d)", i, got[i], exp[i], len(got), len(exp))
			}
		}
		t.Fatalf("%d records, want %d", len(got), len(exp))
	}
}
