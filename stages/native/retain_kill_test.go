package native_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAggregateKillBeforeWindowCloses: pipe follows a checkpointed file
// into a count-window aggregate. A record that an open window holds is not
// acknowledged, so the checkpoint stays before it: after a SIGKILL the
// restarted pipe reads it again and its window closes with it (nothing
// lost). Once that window was emitted and written, its records are
// acknowledged (the checkpoint reaches the end of the file) and a further
// restart reads none of them again. What a restart re-reads after the held
// record also closes its windows again: those are the duplicates.
func TestAggregateKillBeforeWindowCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pipe binary (-short)")
	}
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(buildDir, "killpipe", "pipe")
	buildOnce(t, bin, root, "go", "build", "-o", bin, "./cmd/pipe")

	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	outPath := filepath.Join(dir, "out.ndjson")
	ckPath := filepath.Join(dir, "ck.json")
	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte(`
input: {type: file, path: app.log, codec: ndjson, follow: true, checkpoint: ck.json, checkpoint_interval: 5ms, poll_interval: 5ms}
stages:
  - {name: per-key, type: native, use: aggregate, config: {count: 3, group_by: [k]}}
output: {type: file, path: out.ndjson, append: true, codec: ndjson}
`), 0o644)
	var size int64 // of app.log
	offsetOf := map[int]int64{}
	appendRecs := func(recs ...string) {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range recs {
			var i int
			fmt.Sscanf(r[1:], "%d", &i)
			offsetOf[i] = size + int64(b.Len())
			fmt.Fprintf(&b, "{\"k\":%q,\"i\":%d}\n", r[:1], i)
		}
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		size += int64(b.Len())
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", pipeline)
		stderr, _ := os.OpenFile(filepath.Join(dir, "stderr.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stderr.Close()
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		cmd.Process.Kill() // SIGKILL: nothing is flushed or checkpointed
		cmd.Wait()
	}
	lines := func() []string {
		b, _ := os.ReadFile(outPath)
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	waitLines := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute) // a bound against hanging, not a speed check
		for len(lines()) < n || lines()[0] == "" {
			if time.Now().After(deadline) {
				stderr, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
				t.Fatalf("timed out waiting for %s; output %q\nstderr: %s", what, lines(), stderr)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	checkpoint := func() int64 {
		b, err := os.ReadFile(ckPath)
		if os.IsNotExist(err) {
			return 0
		}
		var cf struct {
			Files []struct {
				Offset int64 `json:"offset"`
			} `json:"files"`
		}
		if err := json.Unmarshal(b, &cf); err != nil {
			t.Fatalf("checkpoint: %v\n%s", err, b)
		}
		var off int64
		for _, f := range cf.Files {
			off = max(off, f.Offset)
		}
		return off
	}
	waitCheckpoint := func(what string, off int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for checkpoint() != off {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: checkpoint at %d, want %d", what, checkpoint(), off)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// Run 1: window a closes and is acknowledged; then b4 opens window b,
	// and c5..c7 close window c behind it.
	cmd := start()
	appendRecs("a1", "a2", "a3")
	waitLines("window a", 1)
	waitCheckpoint("window a acknowledged", size)
	appendRecs("b4", "c5", "c6", "c7")
	waitLines("window c", 2)
	// A pipe that acknowledged b4 would write a checkpoint past it within
	// a few checkpoint intervals: give it a second to show (this grace
	// decides nothing for a correct pipe, whose checkpoint never moves).
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && checkpoint() <= offsetOf[4]; {
		time.Sleep(5 * time.Millisecond)
	}
	kill(cmd)
	if off := checkpoint(); off > offsetOf[4] {
		t.Fatalf("checkpoint at %d after the kill: past b4 (at %d), which window b still held", off, offsetOf[4])
	}

	// Run 2: b4 is read again (window c too: a duplicate); b8 and b9 close
	// window b, and then everything is acknowledged.
	cmd = start()
	appendRecs("b8", "b9")
	waitLines("window b", 4)
	waitCheckpoint("window b acknowledged", size)
	kill(cmd)

	// Run 3: nothing is read again.
	cmd = start()
	appendRecs("d10", "d11", "d12")
	waitLines("window d", 5)
	kill(cmd)

	want := []string{`{"k":"a","count":3}`, `{"k":"c","count":3}`, `{"k":"c","count":3}`, `{"k":"b","count":3}`, `{"k":"d","count":3}`}
	if got := lines(); !slices.Equal(got, want) {
		t.Errorf("output\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
