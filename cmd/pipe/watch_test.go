package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(outPipe)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}()
	const n = 12000
	feed := make(chan struct{})
	go func() {
		defer close(feed)
		for i := range n {
			fmt.Fprintf(in, "r%05d\n", i)
			if i%40 == 0 {
				time.Sleep(10 * time.Millisecond) // about 3 s in all
			}
		}
	}()
	time.Sleep(700 * time.Millisecond)
	write("v2:", "")
	time.Sleep(700 * time.Millisecond)
	write("broken:", "if then") // a syntax error: rejected
	time.Sleep(700 * time.Millisecond)
	write("v3:", "")
	<-feed
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pipe: %v\n%s", err, stderr.String())
	}
	wg.Wait()
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
