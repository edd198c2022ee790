package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitExit waits for cmd, failing the test if it is still running after
// limit (a bound far above what the behaviour under test needs: it tells
// a hang from a slow machine).
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("pipe still running after %v", limit)
		return nil
	}
}

// SIGTERM ends pipe within --drain-timeout even when a record is stuck in
// a stage without a timeout (a Lua loop, a backtracking pattern): exit
// 143, saying the records in flight were not drained.
func TestSignalEndsStuckStageWithinDrainBound(t *testing.T) {
	for name, code := range map[string]string{
		"loop":    `pipe.log.info("stuck") while true do end`,
		"pattern": `pipe.log.info("stuck") string.find(string.rep("a", 200), ".-.-.-.-b") return rec`,
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "p.yaml")
			os.WriteFile(file, []byte(fmt.Sprintf("stages:\n  - {name: s, type: lua, timeout: 0s, code: '%s'}\n", strings.ReplaceAll(code, "'", "''"))), 0o644)
			cmd := exec.Command(pipeBin, "run", file, "--drain-timeout", "1s", "--log-level", "info")
			stdin, _ := cmd.StdinPipe()
			defer stdin.Close()
			// A pipe of the test's own, not cmd.StderrPipe: Wait closes that
			// one as soon as pipe exits, and a read still under way then
			// loses the end of stderr (the line this test looks for).
			errPipe, errW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer errPipe.Close()
			cmd.Stderr = errW
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			errW.Close() // pipe holds the write end: EOF when it exits
			fmt.Fprintln(stdin, "x")
			// Once the record is in the stage (it logs), signal pipe.
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() && !strings.Contains(sc.Text(), "stuck") {
			}
			cmd.Process.Signal(syscall.SIGTERM)
			var stderr bytes.Buffer
			read := make(chan struct{})
			go func() {
				defer close(read)
				for sc.Scan() {
					stderr.WriteString(sc.Text() + "\n")
				}
			}()
			err = waitExit(t, cmd, time.Minute)
			<-read // EOF: pipe has exited, so its write end is closed
			if c := exitCode(err); c != 143 {
				t.Errorf("exit code %d, want 143", c)
			}
			if !strings.Contains(stderr.String(), "not drained within --drain-timeout 1s") {
				t.Errorf("stderr %q; want the drain bound named", stderr.String())
			}
		})
	}
}

// rss is the resident set size of process pid, from /proc.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// 100 --watch reloads of a wasm and a lua stage leave memory near where it
// was after the first few: each replaced version's runtime, compiled module
// and script are released once its records are through (before, every
// reload kept about 6 MB of wasm).
func TestReloadsReleaseMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 reloads (-short)")
	}
	guest, _ := filepath.Abs("../../stages/wasm/testdata/bin/upper.wasm")
	if _, err := os.Stat(guest); err != nil {
		t.Skipf("%v: run make fixtures", err)
	}
	dir := t.TempDir()
	wasmFile, luaFile := filepath.Join(dir, "up.wasm"), filepath.Join(dir, "t.lua")
	mod, _ := os.ReadFile(guest)
	save := func(path string, b []byte) { // as editors save
		os.WriteFile(path+".tmp", b, 0o644)
		os.Rename(path+".tmp", path)
	}
	save(wasmFile, mod)
	save(luaFile, []byte(`function transform(rec) return rec .. " v0" end`))
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("stages:\n  - {name: w, type: wasm, path: up.wasm}\n  - {name: l, type: lua, path: t.lua}\n"), 0o644)
	cmd := exec.Command(pipeBin, "run", file, "--watch")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewScanner(stdout)
	// reached feeds records until one comes out of version v.
	reached := func(v int) {
		want := fmt.Sprintf("X v%d", v)
		for {
			fmt.Fprintln(stdin, "x")
			if !out.Scan() {
				t.Fatalf("output ended before version %d", v)
			}
			if out.Text() == want {
				return
			}
		}
	}
	reached(0)
	var warm int64
	reloads := 100
	if os.Getenv("PIPE_RELIABILITY") == "1" { // make reliability: the long version
		reloads = int(envInt("PIPE_RELOADS", 1000))
	}
	for v := 1; v <= reloads; v++ {
		save(wasmFile, mod)
		save(luaFile, []byte(fmt.Sprintf(`function transform(rec) return rec .. " v%d" end`, v)))
		reached(v)
		if v == 30 {
			warm = rss(t, cmd.Process.Pid)
		}
	}
	end := rss(t, cmd.Process.Pid)
	t.Logf("RESULT reloads: %d --watch reloads of a wasm and a lua stage: RSS after 30 reloads %d MiB, after %d %d MiB", reloads, warm>>20, reloads, end>>20)
	// Before, each reload kept about 6 MB; what is left is the Go heap's
	// own slack, well under 256 KiB a reload.
	if allowed := max(48<<20, int64(reloads-30)<<18); end-warm > allowed {
		t.Errorf("RSS grew by %d MiB over the last %d reloads (allowed %d MiB); want the replaced versions released", (end-warm)>>20, reloads-30, allowed>>20)
	}
	stdin.Close()
	if err := waitExit(t, cmd, time.Minute); err != nil {
		t.Errorf("pipe: %v", err)
	}
}
