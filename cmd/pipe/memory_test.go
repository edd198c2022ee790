package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/internal/gendata"
)

// countingWriter counts the bytes and newlines written to it.
type countingWriter struct{ bytes, lines int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// Memory stays flat however large the input: 1 GiB streamed through a
// three-stage pipeline keeps the peak RSS of the pipe process under 100 MB,
// and every record comes out once.
func TestMemoryStaysFlat(t *testing.T) {
	const (
		total  = 1 << 30
		maxRSS = 100 << 20
	)
	var chunk bytes.Buffer
	if err := gendata.Write(&chunk, 20_000, 42); err != nil {
		t.Fatal(err)
	}
	perChunk := int64(bytes.Count(chunk.Bytes(), []byte{'\n'}))
	reps := total / chunk.Len()

	dir := t.TempDir()
	pipeline := filepath.Join(dir, "flat.yaml")
	if err := os.WriteFile(pipeline, []byte(`input: {codec: lines}
stages:
  - {name: shout, type: native, use: case, config: {to: upper}}
  - {name: keep, type: native, use: grep, config: {pattern: 'LEVEL'}}
  - {name: tidy, type: native, use: trim}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pipeBin, "run", pipeline)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out countingWriter
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer stdin.Close()
		for i := 0; i < reps; i++ {
			if _, err := stdin.Write(chunk.Bytes()); err != nil {
				return // pipe failed; Wait reports it
			}
		}
	}()
	peak := watchPeakRSS(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pipe run: %v\n%s", err, stderr.String())
	}
	if want := perChunk * int64(reps); out.lines != want {
		t.Errorf("%d records out, want %d (every record once)", out.lines, want)
	}
	if out.bytes < int64(reps*chunk.Len())*9/10 {
		t.Errorf("only %d bytes out of %d in", out.bytes, reps*chunk.Len())
	}
	rss := <-peak
	if rss == 0 {
		t.Fatal("could not read the peak RSS of the pipe process")
	}
	t.Logf("%d MiB streamed, peak RSS %.1f MB", total>>20, float64(rss)/1e6)
	if rss >= maxRSS {
		t.Errorf("peak RSS %d bytes for a %d-byte stream, want under %d", rss, total, maxRSS)
	}
}

// watchPeakRSS samples the peak RSS of the pipe process itself until it
// exits, then sends it: VmHWM of its own address space (rusage's maxrss
// would include the test process, whose memory the child shares between
// fork and exec).
func watchPeakRSS(pid int) <-chan int64 {
	peak := make(chan int64, 1)
	go func() {
		var max int64
		for {
			hwm, err := vmHWM(pid)
			if err != nil { // the process has exited
				peak <- max
				return
			}
			max = hwm
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return peak
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(pid int) (int64, error) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, os.ErrNotExist // a zombie has no memory lines
}
