package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// `pipe run --watch`: an edit of defaults.max_record_bytes reaches the
// input (issue 14: it was logged as reloaded while the input kept its old
// limit), and an edit of the output path is refused by name.
func TestWatchReloadAppliesOrRefusesByName(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	save := func(yaml string) {
		if err := os.WriteFile(file+".tmp", []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Rename(file+".tmp", file) // as editors save
	}
	const stage = "stages: [{name: up, type: native, use: case, config: {to: upper}, max_record_bytes: 1MiB}]\n"
	save(stage)
	cmd := exec.Command(pipeBin, "run", file, "--watch")
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	errPipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			switch {
			case strings.Contains(sc.Text(), "pipeline reloaded"):
				events <- "reloaded"
			case strings.Contains(sc.Text(), "reload rejected"):
				events <- "rejected"
			}
		}
		close(events)
	}()
	outR := bufio.NewReader(outPipe)
	wait := func(want string) {
		t.Helper()
		select {
		case ev := <-events:
			if ev != want {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s, want %s:\n%s", ev, want, log.String())
			}
		case <-time.After(30 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no %s event:\n%s", want, log.String())
		}
	}
	long := strings.Repeat("x", 28)
	fmt.Fprintln(in, long)              // under the default 1MiB
	first, err := outR.ReadString('\n') // the run is under way: the files are watched
	if err != nil {
		t.Fatal(err)
	}
	outc := make(chan string, 1)
	go func() { b, _ := io.ReadAll(outR); outc <- first + string(b) }()

	save("output: {type: file, path: other.txt}\n" + stage)
	wait("rejected")
	fmt.Fprintln(in, long) // still the old limit

	save("defaults: {max_record_bytes: 10}\n" + stage)
	wait("reloaded")
	fmt.Fprintln(in, "short")
	fmt.Fprintln(in, long) // record 4: too large for the input now
	in.Close()
	out := <-outc
	err = cmd.Wait()
	mu.Lock()
	stderr := log.String()
	mu.Unlock()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want 1\n%s", err, stderr)
	}
	if want := strings.Repeat(strings.ToUpper(long)+"\n", 2) + "SHORT\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	for _, want := range []string{
		"output.type changed (stdout → file): cannot apply without a restart",
		"output.path changed ((none) → " + filepath.Join(dir, "other.txt") + "): cannot apply without a restart",
		"input.max_record_bytes: 1MiB → 10",
		"stage input: record 4: record too large: 28 bytes (max_record_bytes is 10)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "other.txt")); err == nil {
		t.Errorf("the refused reload opened the new output file")
	}
}
