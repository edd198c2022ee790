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
			var stderr bytes.Buffer
			errPipe, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(stdin, "x")
			// Once the record is in the stage (it logs), signal pipe.
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() && !strings.Contains(sc.Text(), "stuck") {
			}
			cmd.Process.Signal(syscall.SIGTERM)
			go func() {
				for sc.Scan() {
					stderr.WriteString(sc.Text() + "\n")
				}
			}()
			err := waitExit(t, cmd, time.Minute)
			if c := exitCode(err); c != 143 {
				t.Errorf("exit code %d, want 143", c)
			}
			if !strings.Contains(stderr.String(), "not drained within --drain-timeout 1s") {
				t.Errorf("stderr %q; want the drain bound named", stderr.String())
			}
		})
	}
}
