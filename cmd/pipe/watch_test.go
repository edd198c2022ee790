package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine/enginetest"
)

// A generator feeds `pipe run --watch` while the test edits the stage's
// script three times, one edit broken: every record comes out exactly once,
// in order, processed by the version active when it entered; the broken
// edit is rejected and the pipeline goes on.
func TestWatchReloadUnderSteadyStream(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("stages:\n  - {name: tag, type: lua, path: tag.lua}\n"), 0o644)
	script := filepath.Join(dir, "tag.lua")
	write := func(version, broken string) {
		code := fmt.Sprintf("function transform(rec) return %q .. rec end\n%s", version, broken)
		if err := os.WriteFile(script+".tmp", []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Rename(script+".tmp", script) // as editors save
	}
	write("v1:", "")
	audit := filepath.Join(dir, "audit.log")
	cmd := exec.Command(pipeBin, "run", file, "--watch", "--stats", "--audit-log", audit)
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	var stderr enginetest.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var (
		mu    sync.Mutex
		lines []string
	)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		sc := bufio.NewScanner(outPipe)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	// The generator writes until told to stop; the test moves on by
	// events (a record of a version came out, a reload was logged), never
	// by elapsed time, so a slow machine only makes the run longer.
	stopFeed := make(chan struct{})
	fed := make(chan int, 1)
	go func() {
		i := 0
		defer func() { fed <- i }()
		for {
			select {
			case <-stopFeed:
				return
			default:
			}
			for range 40 {
				fmt.Fprintf(in, "r%05d\n", i)
				i++
			}
			time.Sleep(10 * time.Millisecond) // pacing only
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 2 minutes\n%s", what, stderr.String())
			}
		}
	}
	outWith := func(prefix string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], prefix)
		}
	}
	logged := func(msg string, n int) func() bool {
		return func() bool { return strings.Count(stderr.String(), msg) >= n }
	}
	waitFor("v1 record", outWith("v1:"))
	write("v2:", "")
	waitFor("first reload", logged("pipeline reloaded", 1))
	waitFor("v2 record", outWith("v2:"))
	write("broken:", "if then") // a syntax error: rejected
	waitFor("rejection", logged("reload rejected", 1))
	write("v3:", "")
	waitFor("second reload", logged("pipeline reloaded", 2))
	waitFor("v3 record", outWith("v3:"))
	close(stopFeed)
	n := <-fed
	in.Close()
	<-outDone // all output read before Wait closes the pipe
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pipe: %v\n%s", err, stderr.String())
	}
	if len(lines) != n {
		t.Fatalf("%d records out, want %d\n%s", len(lines), n, stderr.String())
	}
	last, versions := "v1", map[string]int{}
	for i, l := range lines {
		v, rec, ok := strings.Cut(l, ":")
		if !ok || rec != fmt.Sprintf("r%05d", i) {
			t.Fatalf("record %d is %q: lost, duplicated or out of order", i, l)
		}
		if v < last || v == "broken" {
			t.Fatalf("record %d went through %s after %s", i, v, last)
		}
		last = v
		versions[v]++
	}
	if versions["v1"] == 0 || versions["v2"] == 0 || versions["v3"] == 0 {
		t.Errorf("versions seen: %v; want all three", versions)
	}
	log := stderr.String()
	if strings.Count(log, "pipeline reloaded") != 2 || !strings.Contains(log, "reload rejected") || !strings.Contains(log, "tag.lua:2") {
		t.Errorf("log does not show two reloads and one rejection:\n%s", log)
	}
	// --stats covers the whole run, across the three versions of the stage
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^\s*tag\s+lua\s+%d\s+%d\s+0\s+0\s`, n, n)).MatchString(log) {
		t.Errorf("--stats does not count every record in the reloaded stage:\n%s", log)
	}
	events, _ := os.ReadFile(audit)
	if strings.Count(string(events), `"event":"pipeline_reloaded"`) != 2 || strings.Count(string(events), `"event":"pipeline_reload_rejected"`) != 1 ||
		!strings.Contains(string(events), "tag.lua:2") || !regexp.MustCompile(`"pipeline_reloaded".*"sha256":\{[^}]*tag\.lua":"[0-9a-f]{64}"`).Match(events) {
		t.Errorf("audit log does not show two reloads and one rejection:\n%s", events)
	}
}
