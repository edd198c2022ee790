//go:build linux

package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzMappedLines: lines taken from a mapped file, whatever the sizes of
// the windows, the pieces and the lines, and max_record_bytes, give the
// output, error and stats of the general path.
func FuzzMappedLines(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc\n"+strings.Repeat("x", 9000)+"\ny"), uint8(0), uint16(100), uint16(5000))
	f.Add(bytes.Repeat([]byte("0123456789abcdef\n"), 2000), uint8(1), uint16(17), uint16(20))
	f.Add(bytes.Repeat([]byte("z"), 4096), uint8(2), uint16(1), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, window uint8, piece, max uint16) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in.log"), data)
		yaml := fmt.Sprintf("input: {type: file, path: in.log, max_record_bytes: %d, on_error: %s}\n", int(max)+1, []string{"fail", "drop"}[window>>7])
		want := runDirect(t, dir, yaml, false)
		windows := mapSmall(t)
		mapWindow, mapPiece = int64(window%4+1)*4096, int(piece)+1
		got := runDirect(t, dir, yaml, true)
		if len(data) > 0 && *windows == 0 {
			t.Fatal("nothing mapped")
		}
		checkDirect(t, "some", false, got, want)
	})
}

// truncatingRun runs the lines of a 1 MiB file through the direct output,
// mapped in windows of 64 KiB, to out, and truncates the file to size when
// the third window is about to do step ("count": before anything of it is
// written; "write": after it was counted and found whole). It returns the
// file's bytes before, the lines the input counted and the run's error.
func truncatingRun(t *testing.T, step string, size int64, out io.Writer) (data []byte, in int64, err error) {
	t.Helper()
	dir := t.TempDir()
	for i := 0; len(data) < 1<<20; i++ {
		data = fmt.Appendf(data, "line %d %s\n", i, strings.Repeat("x", i%200))
	}
	path := filepath.Join(dir, "in.log")
	writeFile(t, path, data)
	file := filepath.Join(dir, "p.yaml")
	writeFile(t, file, []byte("input: {type: file, path: in.log}\n"))
	mapSmall(t)
	var n int
	testHookMapped = func(s string) {
		if s == step {
			if n++; n == 3 {
				if err := os.Truncate(path, size); err != nil {
					t.Error(err)
				}
			}
		}
	}
	p, lerr := Load(file)
	if lerr != nil {
		t.Fatal(lerr)
	}
	err = p.Run(context.Background(), strings.NewReader(""), out)
	for _, s := range p.Stats() {
		if s.Name == "input" {
			in = s.In
		}
	}
	return data, in, err
}

// A file truncated while it is mapped does not crash the run. Truncated
// before a window is written (its pages fault while they are counted),
// the rest is read as read(2) would read it: the run ends, having written
// whole lines up to the window, as if the file had ended there.
func TestMappedFileTruncatedBeforeWrite(t *testing.T) {
	var out bytes.Buffer
	data, in, err := truncatingRun(t, "count", 0, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got := out.Bytes()
	if len(got) == 0 || len(got) >= len(data) || !bytes.HasPrefix(data, got) || got[len(got)-1] != '\n' {
		t.Fatalf("output: %d bytes of %d, want whole lines of the file's first 128 KiB or so", len(got), len(data))
	}
	if lines := int64(bytes.Count(got, []byte("\n"))); in != lines {
		t.Errorf("input counted %d records, output has %d lines", in, lines)
	}
}

// Truncated in the middle of a window's last page, the window's pages do
// not fault (bytes past the end read as zeros): the size is checked before
// the window is written, and what the file holds is read as read(2)
// would: its lines up to the new end, the last one cut there.
func TestMappedFileTruncatedInPage(t *testing.T) {
	var out bytes.Buffer
	size := int64(3*64<<10 - 100) // in the third window's last page
	data, in, err := truncatingRun(t, "count", size, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := append(data[:size:size], '\n')
	if data[size-1] == '\n' {
		want = want[:size]
	}
	if got := out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("output: %d bytes (first difference at %d), want the %d bytes left, whole lines", len(got), firstDiff(string(got), string(want)), len(want))
	}
	if lines := int64(bytes.Count(want, []byte("\n"))); in != lines {
		t.Errorf("input counted %d records, want %d", in, lines)
	}
}

// Truncated between the count and the write of a window, the write faults:
// in a copy (the output is a Go writer) or in write(2) (EFAULT, the output
// is a file); the run fails with an error that says what happened.
func TestMappedFileTruncatedDuringWrite(t *testing.T) {
	tmp, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	for _, tc := range []struct {
		name string
		out  io.Writer
	}{
		{"copy", &bytes.Buffer{}},
		{"write(2)", tmp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := truncatingRun(t, "write", 0, tc.out)
			if err == nil || !strings.Contains(err.Error(), "in.log: the file shrank") {
				t.Fatalf("run: %v, want the input's error that the file shrank", err)
			}
		})
	}
}
