// Package replica runs `pipe run` processes for the scale-out tests and
// benchmarks of the broker connectors: it builds cmd/pipe once per test
// binary, starts replicas of one pipeline file with --metrics-addr, kills
// them (SIGKILL), stops them (SIGTERM) and asks their /readyz.
package replica

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/internal/natstest"
)

var (
	once    sync.Once
	binPath string
	binErr  error
)

// Binary builds cmd/pipe (once per process) and returns its path.
func Binary() (string, error) {
	once.Do(func() {
		root, err := natstest.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pipe-replica")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "pipe")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/pipe")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/pipe: %w\n%s", err, out)
		}
	})
	return binPath, binErr
}

// Replica is one pipe run process.
type Replica struct {
	Log     string // its stdout and stderr
	Metrics string // base URL of its metrics server (/readyz, /metrics)

	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts `pipe run file` with env added to the environment, its
// output in a log file in dir, and waits until its metrics server is up
// (bounded). The replica is killed when the test ends.
func Start(t testing.TB, dir, file string, env ...string) *Replica {
	t.Helper()
	r, err := Launch(dir, file, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	return r
}

var seq struct {
	sync.Mutex
	n int
}

// Launch is Start without a test; the caller kills or stops the replica.
func Launch(dir, file string, env ...string) (*Replica, error) {
	return LaunchArgs(dir, file, nil, env...)
}

// LaunchArgs is Launch with more arguments for pipe run.
func LaunchArgs(dir, file string, args []string, env ...string) (*Replica, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	r := &Replica{Log: filepath.Join(dir, fmt.Sprintf("replica-%d.log", n)), done: make(chan struct{})}
	logf, err := os.Create(r.Log)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, append([]string{"run", file, "--metrics-addr", "127.0.0.1:0"}, args...)...)
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout = logf
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	urlSeen := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`url=(http://\S+)/metrics`)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlSeen <- m[1]:
				default:
				}
			}
		}
		close(copied)
	}()
	go func() {
		<-copied
		r.cmd.Wait()
		logf.Close()
		close(r.done)
	}()
	select {
	case r.Metrics = <-urlSeen:
		return r, nil
	case <-r.done:
		b, _ := os.ReadFile(r.Log)
		return nil, fmt.Errorf("replica exited at start (%v):\n%s", r.cmd.ProcessState, b)
	case <-time.After(60 * time.Second):
		r.Kill()
		return nil, fmt.Errorf("replica: no metrics address in its log within a minute")
	}
}

// Kill kills the replica (SIGKILL) and waits for it to exit.
func (r *Replica) Kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Stop sends SIGTERM, waits up to timeout (then kills) and returns the
// exit code (-1 when it had to be killed).
func (r *Replica) Stop(timeout time.Duration) int {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		r.Kill()
		return -1
	}
}

// CPUTime returns the CPU time (user and system) of an exited replica.
func (r *Replica) CPUTime() time.Duration {
	if !r.Exited() {
		return 0
	}
	return r.cmd.ProcessState.UserTime() + r.cmd.ProcessState.SystemTime()
}

// Exited reports whether the process has exited.
func (r *Replica) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Ready reports what /readyz says (an error when it cannot be asked).
func (r *Replica) Ready() (bool, error) {
	resp, err := http.Get(r.Metrics + "/readyz")
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// Output returns the replica's log.
func (r *Replica) Output() string {
	b, _ := os.ReadFile(r.Log)
	return string(b)
}
