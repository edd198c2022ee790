//go:build unix

package rpc_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pipeBinary builds cmd/pipe once for the tests that need a real pipe
// process.
func pipeBinary(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(bin, "pipe")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	root, _ := filepath.Abs("../..")
	cmd := exec.Command("go", "build", "-o", exe, "./cmd/pipe")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building pipe: %v\n%s", err, out)
	}
	return exe
}

// alive reports whether pid is a running process (a zombie waiting for
// its reaper counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc (not Linux): kill(0) said it exists
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) == 0 || fields[0] != "Z"
}

// After kill -9 of pipe, its rpc plugins exit: started directly (the
// kernel kills them, PR_SET_PDEATHSIG on Linux, and the SDK notices its
// parent is gone) and started by a wrapper script that is killed in their
// place (the SDK side alone).
func TestPluginsDieWithPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pipe (-short)")
	}
	pipe := pipeBinary(t)
	for _, tc := range []struct{ name, script string }{
		{"direct", "echo $$ > \"$PIDFILE\"\nexec \"$CASES\" identity\n"},
		{"wrapper", "\"$CASES\" identity &\necho $! > \"$PIDFILE\"\nwait\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "pid")
			wrapper := filepath.Join(dir, "plugin.sh")
			os.WriteFile(wrapper, []byte("#!/bin/sh\n"+tc.script), 0o755)
			yaml := fmt.Sprintf("stages:\n  - {name: p, type: rpc, path: %s, env: {PIDFILE: %s, CASES: %s}}\n",
				wrapper, pidfile, plugin("cases"))
			file := filepath.Join(dir, "p.yaml")
			os.WriteFile(file, []byte(yaml), 0o644)

			cmd := exec.Command(pipe, "run", file)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// A record through the plugin: it is up.
			fmt.Fprintln(stdin, "ping")
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || line != "ping\n" {
				t.Fatalf("read %q, %v; stderr: %s", line, err, stderr.String())
			}
			b, err := os.ReadFile(pidfile)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || !alive(pid) {
				t.Fatalf("plugin pid %q (%v) is not running", b, err)
			}
			defer syscall.Kill(pid, syscall.SIGKILL) // if the test fails

			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			// The bound is generous; the plugin is gone long before.
			for deadline := time.Now().Add(30 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("plugin %d still runs 30s after kill -9 of pipe", pid)
				}
			}
		})
	}
}
