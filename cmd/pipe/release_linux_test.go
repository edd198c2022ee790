package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReleaseStartupPages: once a run has started (it answered its first
// record), the pages of the executable that package init touched are no
// longer resident, and once more PIPE_RELEASE_AGAIN_AFTER after start, unless
// PIPE_KEEP_STARTUP_PAGES=1 keeps them. It runs a
// copy of the binary, as bench/run.sh does (the file the linker wrote maps
// differently), and compares the file-backed resident set of the two.
func TestReleaseStartupPages(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pipe")
	data, err := os.ReadFile(pipeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// run starts a filter-mode run that answers its first record and then
	// waits for input; it returns the run's RssFile reader and its stop.
	run := func(keep bool) (rss func() int64, stop func()) {
		cmd := exec.Command(bin, "run", "--native", "case", "--config", "to=upper")
		// The second release a second after start, so that it comes after
		// the first record however loaded the machine (the default, 30 ms,
		// can come before it).
		cmd.Env = append(os.Environ(), "PIPE_RELEASE_AGAIN_AFTER=1s")
		if keep {
			cmd.Env = append(cmd.Env, "PIPE_KEEP_STARTUP_PAGES=1")
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop = func() { in.Close(); cmd.Wait() }
		if _, err := in.Write([]byte("a\n")); err != nil {
			stop()
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "A\n" {
			stop()
			t.Fatalf("first record: %q, %v", line, err)
		}
		return func() int64 { return rssFile(t, cmd.Process.Pid) }, stop
	}
	rssKept, stopKept := run(true)
	kept := rssKept()
	rssReleased, stopReleased := run(false)
	released := rssReleased()
	t.Logf("file-backed resident set after the first record: %d kB kept, %d kB released", kept, released)
	if released*5 > kept*4 {
		t.Errorf("released startup pages: %d kB resident, want under 4/5 of the %d kB kept", released, kept)
	}

	// The second release: a run idle after its first record ends up with
	// under half of what it had mapped back by then. Waits for it (the
	// release is a second after start) up to a bound far beyond.
	again := released
	for deadline := time.Now().Add(30 * time.Second); again*2 >= released && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		again = rssReleased()
	}
	stopReleased()
	t.Logf("after the second release: %d kB", again)
	if again*2 >= released {
		t.Errorf("second release: %d kB resident, want under half of the %d kB after the first record", again, released)
	}
	// PIPE_KEEP_STARTUP_PAGES=1 keeps them for good: still over 4/5 after
	// the time the second release would have come.
	time.Sleep(200 * time.Millisecond)
	if now := rssKept(); now*5 < kept*4 {
		t.Errorf("PIPE_KEEP_STARTUP_PAGES=1: %d kB resident, down from %d kB", now, kept)
	}
	stopKept()
}

// rssFile is the RssFile of process pid, in kB.
func rssFile(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/PID/status")
	return 0
}

func TestAgainAfter(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration
	}{{"", releaseAgainAfter}, {"250ms", 250 * time.Millisecond}, {"2s", 2 * time.Second}, {"0", releaseAgainAfter}, {"-1s", releaseAgainAfter}, {"soon", releaseAgainAfter}} {
		if got := againAfter(c.v); got != c.want {
			t.Errorf("againAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}
