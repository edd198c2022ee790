package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseStartupPages: once a run has started (it answered its first
// record), the pages of the executable that package init touched are no
// longer resident, unless PIPE_KEEP_STARTUP_PAGES=1 keeps them. It runs a
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
	rssFile := func(keep bool) int64 {
		cmd := exec.Command(bin, "run", "--native", "case", "--config", "to=upper")
		cmd.Env = os.Environ()
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
		defer func() { in.Close(); cmd.Wait() }()
		if _, err := in.Write([]byte("a\n")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "A\n" {
			t.Fatalf("first record: %q, %v", line, err)
		}
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "status"))
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
	kept, released := rssFile(true), rssFile(false)
	t.Logf("file-backed resident set after the first record: %d kB kept, %d kB released", kept, released)
	if released*5 > kept*4 {
		t.Errorf("released startup pages: %d kB resident, want under 4/5 of the %d kB kept", released, kept)
	}
}
