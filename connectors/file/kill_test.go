package file_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pipeBinary builds cmd/pipe once for the process tests.
var pipeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pipe-kill-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pipe")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pipe-dev/pipe/cmd/pipe").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// lineAt is where the writer put one line.
type lineAt struct {
	ino      uint64
	off, end int64
}

// logWriter appends numbered lines to app.log, sometimes in two writes (an
// unfinished line for a while), and rotates it by rename every so often.
type logWriter struct {
	dir   string
	mu    sync.Mutex
	lines map[string]lineAt // line → where it was written
	order []string
	stop  chan struct{}
	done  chan error
}

func startWriter(t *testing.T, dir string, seed uint64) *logWriter {
	w := &logWriter{dir: dir, lines: map[string]lineAt{}, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() { w.done <- w.run(rand.New(rand.NewPCG(seed, 1))) }()
	return w
}

func (w *logWriter) run(rng *rand.Rand) error {
	path := filepath.Join(w.dir, "app.log")
	rotations := 0
	open := func() (*os.File, uint64, int64, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, 0, 0, err
		}
		st, err := f.Stat()
		if err != nil {
			return nil, 0, 0, err
		}
		return f, st.Sys().(*syscall.Stat_t).Ino, st.Size(), nil
	}
	f, ino, off, err := open()
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	n := 0
	for {
		select {
		case <-w.stop:
			return nil
		default:
		}
		for range 1 + rng.IntN(20) {
			n++
			line := fmt.Sprintf("line-%07d", n)
			data := line + "\n"
			if rng.IntN(10) == 0 { // an unfinished line for a moment
				cut := 1 + rng.IntN(len(data)-1)
				if _, err := f.WriteString(data[:cut]); err != nil {
					return err
				}
				time.Sleep(time.Millisecond)
				data = data[cut:]
			}
			if _, err := f.WriteString(data); err != nil {
				return err
			}
			w.mu.Lock()
			w.lines[line] = lineAt{ino: ino, off: off, end: off + int64(len(line)) + 1}
			w.order = append(w.order, line)
			w.mu.Unlock()
			off += int64(len(line)) + 1
		}
		if rng.IntN(40) == 0 { // rotate by rename
			rotations++
			f.Close()
			if err := os.Rename(path, fmt.Sprintf("%s.%d", path, rotations)); err != nil {
				return err
			}
			if f, ino, off, err = open(); err != nil {
				return err
			}
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond)
	}
}

func (w *logWriter) written() ([]string, map[string]lineAt) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[string]lineAt, len(w.lines))
	for k, v := range w.lines {
		m[k] = v
	}
	return append([]string(nil), w.order...), m
}

func countLines(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m[sc.Text()]++
	}
	return m
}

func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// TestKillAndRestart kills pipe (SIGKILL) at random points while it follows
// a file that is appended to and rotated, and restarts it, ten times: every
// line must be in the output at least once, and a line may appear more
// than once only if, at a kill, it was in the output beyond the last
// checkpoint written.
func TestKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pipe binary")
	}
	bin, err := pipeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "p.yaml")
	write(t, pipeline, "input: {type: file, path: 'app.log*', follow: true, checkpoint: ck.json, checkpoint_interval: 20ms, poll_interval: 10ms}\n"+
		"output: {type: file, path: out.txt, append: true}\n", os.O_TRUNC)
	out := filepath.Join(dir, "out.txt")
	ckPath := filepath.Join(dir, "ck.json")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	w := startWriter(t, dir, seed)
	defer close(w.stop)

	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", pipeline)
		stderr, err := os.OpenFile(filepath.Join(dir, "stderr.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stderr.Close()
		return cmd
	}
	// mayRepeat counts, per line, the kills at which it was delivered but
	// not covered by the checkpoint: the most times it may be repeated.
	mayRepeat := map[string]int{}
	bound := 0
	const rounds = 10
	for round := range rounds {
		cmd := start()
		// Kill after the output grew by a random number of lines (an event,
		// not a time), or at once in some rounds.
		before := lineCount(out)
		grow := rng.IntN(3000)
		if round%4 == 3 {
			grow = 0
		}
		waitFor(t, fmt.Sprintf("round %d: %d more output lines", round, grow), func() bool { return lineCount(out) >= before+grow })
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		// The checkpoint as the killed process left it.
		ck := map[uint64]int64{}
		if b, err := os.ReadFile(ckPath); err == nil {
			var cf struct {
				Files []struct {
					Ino    uint64 `json:"ino"`
					Offset int64  `json:"offset"`
				} `json:"files"`
			}
			if err := json.Unmarshal(b, &cf); err != nil {
				t.Fatalf("round %d: checkpoint is not JSON after a kill (not written atomically?): %v\n%s", round, err, b)
			}
			for _, f := range cf.Files {
				ck[f.Ino] = f.Offset
			}
		}
		_, where := w.written()
		uncovered := 0
		for line := range countLines(t, out) {
			at, ok := where[line]
			if !ok {
				t.Fatalf("round %d: output line %q was never written", round, line)
			}
			if off, ok := ck[at.ino]; !ok || at.end > off {
				mayRepeat[line]++
				uncovered++
			}
		}
		bound += uncovered
		t.Logf("round %d: killed after %d output lines; %d of them beyond the checkpoint", round, lineCount(out), uncovered)
	}
	// Last run: stop writing, let pipe catch up, stop it cleanly.
	w.stop <- struct{}{}
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	w.stop = make(chan struct{})
	order, _ := w.written()
	cmd := start()
	waitFor(t, "every written line in the output", func() bool {
		got := countLines(t, out)
		for _, l := range order {
			if got[l] == 0 {
				return false
			}
		}
		return true
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
			b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
			t.Fatalf("pipe after SIGTERM: %v\n%s", err, b)
		}
	}
	got := countLines(t, out)
	dups := 0
	for _, l := range order {
		if got[l] == 0 {
			t.Errorf("line %s lost", l)
		}
		if extra := got[l] - 1; extra > 0 {
			dups += extra
			if extra > mayRepeat[l] {
				t.Errorf("line %s appears %d times, but was beyond the checkpoint at %d kills", l, got[l], mayRepeat[l])
			}
		}
	}
	if len(got) != len(order) {
		t.Errorf("%d distinct output lines, %d written", len(got), len(order))
	}
	if dups > bound {
		t.Errorf("%d duplicates, more than the %d lines beyond the checkpoints at the kills", dups, bound)
	}
	t.Logf("%d lines written, %d duplicates (bound %d)", len(order), dups, bound)
}

// TestKillResumesLargeFile: without follow, a checkpointed run of a large
// file killed half-way resumes at its checkpoint: nothing is lost, and only
// lines beyond the checkpoint at the kill are repeated.
func TestKillResumesLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pipe binary")
	}
	bin, err := pipeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const n = 600_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "n-%07d\n", i)
	}
	write(t, filepath.Join(dir, "big.log"), b.String(), os.O_TRUNC)
	pipeline := filepath.Join(dir, "p.yaml")
	// A lua stage slows the run down enough to be killed in the middle.
	write(t, pipeline, "input: {type: file, path: big.log, checkpoint: ck.json, checkpoint_interval: 10ms}\n"+
		"output: {type: file, path: out.txt, append: true}\nstages:\n  - {name: same, type: lua, code: 'return rec'}\n", os.O_TRUNC)
	out := filepath.Join(dir, "out.txt")
	cmd := exec.Command(bin, "run", pipeline)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a part of the output", func() bool { return lineCount(out) >= n/4 })
	cmd.Process.Kill()
	cmd.Wait()
	atKill := lineCount(out)
	var offset int64
	if data, err := os.ReadFile(filepath.Join(dir, "ck.json")); err == nil {
		var cf struct {
			Files []struct{ Offset int64 } `json:"files"`
		}
		if err := json.Unmarshal(data, &cf); err != nil || len(cf.Files) != 1 {
			t.Fatalf("checkpoint after the kill: %v\n%s", err, data)
		}
		offset = cf.Files[0].Offset
	}
	covered := int(offset / int64(len("n-0000000\n")))
	if atKill >= n {
		t.Logf("the run finished before the kill: the resume is not exercised")
	}
	if res, err := exec.Command(bin, "run", pipeline).CombinedOutput(); err != nil {
		t.Fatalf("restart: %v\n%s", err, res)
	}
	got := countLines(t, out)
	dups := 0
	for i := range n {
		c := got[fmt.Sprintf("n-%07d", i)]
		if c == 0 {
			t.Fatalf("line %d lost", i)
		}
		if c > 1 {
			dups += c - 1
			if i < covered {
				t.Fatalf("line %d repeated although the checkpoint (%d lines) covered it", i, covered)
			}
		}
	}
	if dups > atKill-covered {
		t.Errorf("%d duplicates, more than the %d lines written beyond the checkpoint", dups, atKill-covered)
	}
	t.Logf("killed at %d lines, checkpoint at %d; %d repeated after the restart", atKill, covered, dups)
}
