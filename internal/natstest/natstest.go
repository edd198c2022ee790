// Package natstest runs a real nats-server for tests and benchmarks: the
// binary that make fixtures builds into bin/ from the module pinned in
// internal/tools/brokers, started on a free 127.0.0.1 port with JetStream
// on disk in a temporary directory. Every wait is bounded; a server that
// does not say it is ready within StartTimeout fails the start with its log.
//
// A Server can be stopped and started again on the same port and store
// directory (the tests that stop the broker mid-run), or killed.
package natstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long a start waits for the server's "Server is
// ready" line; StopTimeout how long a stop waits before it kills.
var (
	StartTimeout = 60 * time.Second
	StopTimeout  = 15 * time.Second
)

// Options configure a server. The zero value is an open server with
// JetStream.
type Options struct {
	// Token, when set, is the one authorization token clients must give.
	Token string
	// User and Password, when set, are the one user clients must log in as.
	User, Password string
	// NKey, when set, is the public nkey (U...) of the one user allowed.
	NKey string
	// MaxPayload is the largest message the server accepts (0: its default,
	// 1 MiB).
	MaxPayload int
	// Extra is appended to the configuration file as it is.
	Extra string
	// Dir is the directory for the configuration, the log and the
	// JetStream store; empty: a new temporary directory.
	Dir string
}

// Server is a nats-server process.
type Server struct {
	URL      string // nats://127.0.0.1:PORT
	Port     int
	StoreDir string // the JetStream store (kept across Stop and Start)
	Dir      string

	bin, conf, logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a server for the test and stops it when the test ends. It
// fails the test if the binary is missing and cannot be built, or the
// server does not start.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := Launch(o)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Launch starts a server; the caller stops it.
func Launch(o Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "natstest"); err != nil {
			return nil, err
		}
	}
	s := &Server{bin: bin, Dir: o.Dir, StoreDir: filepath.Join(o.Dir, "js"), conf: filepath.Join(o.Dir, "nats.conf"), logPath: filepath.Join(o.Dir, "nats.log")}
	// A port taken between FreePort and the server's listen fails the
	// start: try a few.
	for range 5 {
		if s.Port, err = FreePort(); err != nil {
			return nil, err
		}
		s.URL = "nats://127.0.0.1:" + strconv.Itoa(s.Port)
		if err = os.WriteFile(s.conf, []byte(config(s, o)), 0o600); err != nil {
			return nil, err
		}
		if err = s.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
	return nil, err
}

func config(s *Server, o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:%d\n", s.Port)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n", s.StoreDir)
	if o.MaxPayload > 0 {
		fmt.Fprintf(&b, "max_payload: %d\n", o.MaxPayload)
	}
	switch {
	case o.Token != "":
		fmt.Fprintf(&b, "authorization {\n  token: %q\n}\n", o.Token)
	case o.User != "":
		fmt.Fprintf(&b, "authorization {\n  user: %q\n  password: %q\n}\n", o.User, o.Password)
	case o.NKey != "":
		fmt.Fprintf(&b, "authorization {\n  users: [{nkey: %q}]\n}\n", o.NKey)
	}
	b.WriteString(o.Extra)
	return b.String()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server again after Stop or Kill (same port, same store);
// it returns once the server said it is ready.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("nats-server: already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-c", s.conf)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("nats-server: %w", err)
	}
	ready := make(chan struct{})
	go func() { // copy the log, and see the ready line
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			logf.Write(append(sc.Bytes(), '\n'))
			if !seen && bytes.Contains(sc.Bytes(), []byte("Server is ready")) {
				seen = true
				close(ready)
			}
		}
		io.Copy(io.Discard, pr)
		logf.Close()
	}()
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		pw.Close()
		close(done)
	}()
	select {
	case <-ready:
		s.cmd, s.done = cmd, done
		return nil
	case <-done:
		return fmt.Errorf("nats-server exited at start: %s", s.logTail())
	case <-time.After(StartTimeout):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("nats-server not ready after %v: %s", StartTimeout, s.logTail())
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after StopTimeout) and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Kill kills the server (SIGKILL) and waits for it to exit.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Restart stops the server, waits pause, and starts it again.
func (s *Server) Restart(pause time.Duration) error {
	s.Stop()
	time.Sleep(pause)
	return s.Start()
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(StopTimeout):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

func (s *Server) logTail() string {
	l := s.Log()
	if len(l) > 2000 {
		l = "..." + l[len(l)-2000:]
	}
	return l
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the path of bin/nats-server in the repository, building
// it from the tools module first when it is missing (what make fixtures
// does; about a minute).
func Binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = findOrBuild() })
	return binPath, binErr
}

func findOrBuild() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "nats-server")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	// Build beside it and rename: test packages run in parallel.
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
	cmd.Dir = filepath.Join(root, "internal", "tools", "brokers")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("building nats-server (make fixtures does this): %w\n%s", err, out)
	}
	return bin, os.Rename(tmp, bin)
}

// RepoRoot returns the directory of pipe's go.mod, searched upwards from
// the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/pipe-dev/pipe\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("natstest: not inside the pipe repository")
		}
		dir = parent
	}
}

// CPUTime returns the CPU time (user and system) the running server
// process has used so far (Linux: /proc/PID/stat), 0 when it is not
// running or the platform does not say.
func (s *Server) CPUTime() time.Duration {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (in parentheses): utime and
	// stime are the 12th and 13th, in clock ticks (100 a second).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
