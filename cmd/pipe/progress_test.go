package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (what a terminal emulator gives a
// program as its stderr).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// onPTY runs pipe with its stderr on a pseudo-terminal (and stdin, if not
// nil, from stdin) and returns what the terminal showed.
func onPTY(t *testing.T, stdin *os.File, args ...string) string {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(pipeBin, args...)
	cmd.Stderr = slave
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(master); done <- b }() // ends with EIO when the child exits
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case tty := <-done:
		return string(tty)
	case <-time.After(10 * time.Second):
		t.Fatal("no end of terminal output")
	}
	return ""
}

// The progress line shows on a terminal, and never on a pipe or file;
// --progress and --no-progress override that.
func TestProgressOnlyOnATerminal(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "in.log")
	os.WriteFile(data, bytes.Repeat([]byte("a line of some text\n"), 50000), 0o644)
	args := []string{"run", "--input", data, "--native", "case", "--config", "to=upper", "--output", filepath.Join(dir, "out")}

	if s := onPTY(t, nil, args...); !strings.Contains(s, "records/s") || !strings.Contains(s, "(100.0%)") || !strings.Contains(s, "50000 records") {
		t.Errorf("terminal shows no progress: %q", s)
	}
	if s := onPTY(t, nil, append(args, "--no-progress")...); s != "" {
		t.Errorf("--no-progress: the terminal shows %q", s)
	}
	// stdin redirected from a file (pipe run ... < in.log) has a known size too.
	f, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s := onPTY(t, f, "run", "--native", "case", "--config", "to=upper", "--output", filepath.Join(dir, "out")); !strings.Contains(s, "(100.0%)") || !strings.Contains(s, "50000 records") {
		t.Errorf("terminal shows no progress for stdin from a file: %q", s)
	}

	var stderr bytes.Buffer
	cmd := exec.Command(pipeBin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", stderr.String())
	}
	stderr.Reset()
	cmd = exec.Command(pipeBin, append(args, "--progress")...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if s := stderr.String(); !strings.Contains(s, "50000 records") || !strings.Contains(s, "(100.0%)") {
		t.Errorf("--progress on a non-terminal: %q", s)
	}
	cmd = exec.Command(pipeBin, append(args, "--progress", "--no-progress")...)
	if out, err := cmd.CombinedOutput(); exitCode(err) != 2 || !strings.Contains(string(out), "contradict") {
		t.Errorf("--progress --no-progress: %v %s", err, out)
	}
}
