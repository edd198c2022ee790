package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/internal/gendata"
)

// The long reliability runs (make reliability): skipped unless
// PIPE_RELIABILITY=1, sized by environment variables, and each logging one
// result line (RESULT ...) that the README's reliability table quotes.

func reliability(t *testing.T) {
	if os.Getenv("PIPE_RELIABILITY") != "1" {
		t.Skip("a long reliability run: make reliability (PIPE_RELIABILITY=1)")
	}
}

func envInt(name string, dflt int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return dflt
}

// A soak: PIPE_SOAK_BYTES (default 5 GiB) of generated ndjson logs through
// lua, js and native stages; every record comes out once, and the RSS,
// sampled every 100ms, stays flat.
func TestReliabilitySoak(t *testing.T) {
	reliability(t)
	total := envInt("PIPE_SOAK_BYTES", 5<<30)
	var chunk bytes.Buffer
	if err := gendata.Write(&chunk, 20_000, 7); err != nil {
		t.Fatal(err)
	}
	perChunk := int64(bytes.Count(chunk.Bytes(), []byte{'\n'}))
	reps := total / int64(chunk.Len())
	file := filepath.Join(t.TempDir(), "soak.yaml")
	os.WriteFile(file, []byte(`input: {codec: ndjson}
output: {codec: ndjson}
stages:
  - {name: tag, type: lua, code: 'rec.seen = true return rec'}
  - {name: mark, type: js, code: 'rec.js = 1; return rec'}
  - {name: tidy, type: native, use: trim}
`), 0o644)
	cmd := exec.Command(pipeBin, "run", file)
	stdin, _ := cmd.StdinPipe()
	var out countingWriter
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer stdin.Close()
		for range reps {
			if _, err := stdin.Write(chunk.Bytes()); err != nil {
				return
			}
		}
	}()
	type sample struct {
		at  time.Duration
		rss int64
	}
	samples := make(chan []sample)
	go func() {
		var s []sample
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if err != nil {
				samples <- s
				return
			}
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					s = append(s, sample{time.Since(start), kb << 10})
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pipe: %v\n%s", err, stderr.String())
	}
	elapsed := time.Since(start)
	s := <-samples
	var peak, last int64
	for _, x := range s {
		peak = max(peak, x.rss)
	}
	if len(s) > 0 {
		last = s[len(s)-1].rss
	}
	want := perChunk * reps
	t.Logf("RESULT soak: %.2f GiB, %d records in %v (%.0f MB/s); RSS peak %d MiB, last %d MiB, %d samples; records out %d of %d",
		float64(reps*int64(chunk.Len()))/(1<<30), want, elapsed.Round(time.Second), float64(reps*int64(chunk.Len()))/1e6/elapsed.Seconds(),
		peak>>20, last>>20, len(s), out.lines, want)
	if out.lines != want {
		t.Errorf("%d records out, want %d", out.lines, want)
	}
	if peak > 300<<20 {
		t.Errorf("RSS peak %d MiB; want it flat (under 300 MiB)", peak>>20)
	}
}

// A kill loop: PIPE_KILL_ROUNDS (default 50) times, pipe runs an rpc
// plugin on a stream and is killed with -9 at a random moment after its
// first output; each time its plugin exits too.
func TestReliabilityKillLoop(t *testing.T) {
	reliability(t)
	plugin, _ := filepath.Abs("../../stages/rpc/testdata/bin/cases")
	if _, err := os.Stat(plugin); err != nil {
		t.Skipf("%v: run make fixtures", err)
	}
	rounds := int(envInt("PIPE_KILL_ROUNDS", 50))
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "plugin.sh")
	pidfile := filepath.Join(dir, "pid")
	os.WriteFile(wrapper, []byte("#!/bin/sh\necho $$ > \""+pidfile+"\"\nexec "+plugin+" upper\n"), 0o755)
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("stages:\n  - {name: p, type: rpc, path: "+wrapper+", workers: 2}\n  - {name: l, type: lua, code: 'return rec'}\n"), 0o644)
	var slowest time.Duration
	start := time.Now()
	for round := range rounds {
		os.Remove(pidfile)
		cmd := exec.Command(pipeBin, "run", file)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(stdin, "record %d\n", i); err != nil {
					return
				}
			}
		}()
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			t.Fatalf("round %d: no output", round)
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		b, _ := os.ReadFile(pidfile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		killed := time.Now()
		for alive(pid) {
			if time.Since(killed) > 30*time.Second {
				t.Fatalf("round %d: plugin %d still runs 30s after kill -9 of pipe", round, pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(killed))
	}
	t.Logf("RESULT kill loop: %d rounds of kill -9 in %v; every plugin gone, the slowest %v after its pipe", rounds, time.Since(start).Round(time.Second), slowest.Round(time.Millisecond))
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) == 0 || f[0] != "Z"
}
