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
	"syscall"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/stage"
)

var pipeBin string

// TestMain builds the pipe binary once; these tests drive it as a process
// (signals, broken pipes and exit codes only show there).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pipe-bin")
	if err != nil {
		panic(err)
	}
	pipeBin = filepath.Join(dir, "pipe")
	if out, err := exec.Command("go", "build", "-o", pipeBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// `pipe ... | head -1` ends quietly with status 0, like grep.
func TestClosedStdoutExitsQuietly(t *testing.T) {
	cmd := exec.Command(pipeBin, "run", "--native", "case", "--config", "to=upper")
	cmd.Stdin = strings.NewReader(strings.Repeat("some line of text\n", 2_000_000))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "SOME LINE OF TEXT\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	out.Close() // what head does after one line
	err = cmd.Wait()
	if code := exitCode(err); code != 0 {
		t.Errorf("exit code %d after the reader went away, want 0", code)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr not quiet: %q", stderr.String())
	}
}

// SIGINT, SIGTERM and (without --watch) SIGHUP stop the input, write every
// record already read, and exit 130, 143 and 129.
func TestSignalsDrain(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}, {syscall.SIGHUP, 129}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			cmd := exec.Command(pipeBin, "run", "--native", "case", "--config", "to=upper", "--stats")
			in, _ := cmd.StdinPipe()
			outPipe, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewReader(outPipe)
			for i := range 100 { // records stream through one by one
				fmt.Fprintf(in, "rec %d\n", i)
				line, err := out.ReadString('\n')
				if want := fmt.Sprintf("REC %d\n", i); err != nil || line != want {
					t.Fatalf("line %q, %v; want %q", line, err, want)
				}
			}
			fmt.Fprintf(in, "partial line without newline") // not a record yet
			time.Sleep(100 * time.Millisecond)
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := out.ReadString(0)
			err := cmd.Wait()
			in.Close()
			if code := exitCode(err); code != c.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if rest != "" {
				t.Errorf("unexpected output after the signal: %q", rest)
			}
			if !regexp.MustCompile(`(?m)^\s*input\s+-\s+100\s+100\s`).MatchString(stderr.String()) ||
				!regexp.MustCompile(`(?m)^\s*output\s+-\s+100\s+100\s`).MatchString(stderr.String()) {
				t.Errorf("stats do not account for the 100 records:\n%s", stderr.String())
			}
		})
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"lint", "--help"}, {"version", "--help"}} {
		out, err := exec.Command(pipeBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(string(out), "Examples:") || !strings.Contains(string(out), "pipe ") {
			t.Errorf("pipe %v shows no example:\n%s", args, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(pipeBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pipe ", "\ncommit ", "\nbuilt ", "go go1.", "host API " + stage.APIVersion, "native"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
