package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
)

// proc is one running plugin process.
type proc struct {
	client *plugin.Client
	run    *cmdRunner
	c      *conn
	tail   *tail
	pid    int
	sum    string // hex sha256 of the binary this process runs

	writers []*lineWriter // its stderr and stdout, for flush
}

// rejectedError is a plugin's refusal of its config (Open failed).
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return "plugin rejected its config: " + e.msg }

// PinError is a plugin binary whose SHA-256 is not the pinned one (the
// stage's sha256:, or the hash a plugin directory resolved and checked):
// it is refused, at the first start as at a restart.
type PinError struct {
	Path             string
	Expected, Actual string // hex
}

func (e *PinError) Error() string {
	return fmt.Sprintf("plugin %s has sha256 %s, pinned %s: the binary does not match the pinned sha256: refusing to start it", e.Path, e.Actual, e.Expected)
}

// verifyPin hashes the binary and, when the stage pins a hash, compares:
// a mismatch is a *PinError and a plugin_refused event.
func (s *stage) verifyPin() (sum string, err error) {
	if s.child != nil {
		return "", nil // pipe itself, re-executed
	}
	got, err := fileSHA256(s.path)
	if err != nil {
		return "", err
	}
	sum = hex.EncodeToString(got)
	if s.sum != nil && !bytes.Equal(got, s.sum) {
		pe := &PinError{Path: s.path, Expected: hex.EncodeToString(s.sum), Actual: sum}
		reason := "sha256 does not match the stage's sha256: pin"
		if s.opts.SHA256 == "" {
			reason = "sha256 does not match the plugin " + s.spec.Plugin() + " as resolved (and its signature checked)"
		}
		s.events.Emit("plugin_refused", "path", s.path, "reason", reason, "sha256_expected", pe.Expected, "sha256_actual", pe.Actual)
		s.log.Error("plugin binary refused", "path", s.path, "reason", reason, "sha256_expected", pe.Expected, "sha256_actual", pe.Actual)
		return sum, pe
	}
	return sum, nil
}

// startGrace bounds how long a start that failed waits for the plugin to
// exit by itself, so that what it writes to stderr while dying is in the
// error, before it is killed.
const startGrace = 2 * time.Second

// start starts the plugin, checks its health service and opens it with the
// stage's config.
func (s *stage) start(ctx context.Context, tl *tail) (*proc, error) {
	sum, err := s.verifyPin()
	if err != nil {
		return nil, err
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	keys := make([]string, 0, len(s.opts.Env))
	for k := range s.opts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+s.opts.Env[k])
	}
	// One writer per stream of this process: a partial last line is
	// flushed when the process is gone (kill).
	errw, syncErr, syncOut, out := tl.writer("stderr"), tl.writer("stderr"), tl.writer("stdout"), tl.writer("stdout")
	run := &cmdRunner{path: execPath(s.path), args: s.opts.Args, env: env, stdoutLog: out, grace: min(s.startTO, startGrace)}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{PluginName: &grpcPlugin{}},
		RunnerFunc:       run.runner,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     s.startTO,
		Logger:           hclog.NewNullLogger(),
		Stderr:           errw,
		SyncStderr:       syncErr,
		SyncStdout:       syncOut,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))},
	})
	p := &proc{client: client, run: run, tail: tl, sum: sum, writers: []*lineWriter{errw, syncErr, syncOut, out}}
	tl.takeFault() // a new process: what the last one said is behind us
	fail := func(err error) (*proc, error) {
		// kill waits until go-plugin has copied the plugin's stderr (and
		// the runner let a dying plugin finish writing it), so the error
		// always carries the last lines.
		p.kill()
		return nil, fmt.Errorf("%w%s", err, tl.last())
	}
	cp, err := client.Client()
	if err != nil {
		return fail(explainStart(err))
	}
	run.handshaken.Store(true)
	p.pid = run.pid()
	raw, err := cp.Dispense(PluginName)
	if err != nil {
		return fail(err)
	}
	p.c = raw.(*conn)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.startTO)
	defer cancel()
	if err := checkHealth(hctx, p.c.cc); err != nil {
		return fail(fmt.Errorf("the plugin does not serve the gRPC health service: %w", err))
	}
	_, err = p.c.rpc.Open(hctx, &rpcpb.OpenRequest{ConfigJson: s.config, Stage: s.spec.Name, Codec: s.codec})
	if err != nil {
		if st, ok := status.FromError(err); ok && (st.Code() == codes.InvalidArgument || st.Code() == codes.FailedPrecondition) {
			p.kill()
			return nil, &rejectedError{msg: st.Message()}
		}
		return fail(fmt.Errorf("open: %w", err))
	}
	s.events.Emit("plugin_started", "path", s.path, "pid", p.pid, "sha256", sum)
	return p, nil
}

// cmdRunner runs the plugin process for go-plugin (its RunnerFunc): like
// go-plugin's own runner, but the plugin's stdin is /dev/null (not the
// host's stdin, which carries the records), and what the plugin prints on
// stdout after the handshake line is logged instead of dropped.
type cmdRunner struct {
	path string
	args []string
	env  []string
	// stdoutLog hears the plugin's stdout after the handshake line.
	stdoutLog io.Writer
	// grace bounds the wait of Kill for the plugin's stderr to close
	// while the handshake has not succeeded.
	grace      time.Duration
	handshaken atomic.Bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser
}

func (r *cmdRunner) runner(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
	cmd := exec.Command(r.path, r.args...)
	// go-plugin's handshake variables (and its socket directory) come in
	// spec.Env; the host's environment does not (SkipHostEnv).
	cmd.Env = append(append([]string(nil), r.env...), spec.Env...)
	// Its own process group: kill reaches the processes a wrapper script
	// started (go-plugin waits until every holder of the plugin's stdout
	// and stderr is gone), and a Ctrl-C at the terminal reaches only the
	// host, which then drains and closes its plugins.
	cmd.SysProcAttr = procAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	r.stdout = &afterHandshake{ReadCloser: stdout, w: r.stdoutLog}
	r.stderr = &eofReader{ReadCloser: stderr, eof: make(chan struct{})}
	return r, nil
}

// eofReader closes eof when its reader returned an error (EOF: the
// plugin, and every process holding its stderr, closed it).
type eofReader struct {
	io.ReadCloser
	once sync.Once
	eof  chan struct{}
}

func (e *eofReader) Read(b []byte) (int, error) {
	n, err := e.ReadCloser.Read(b)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

func (r *cmdRunner) Start(context.Context) error     { return r.cmd.Start() }
func (r *cmdRunner) Wait(context.Context) error      { return r.cmd.Wait() }
func (r *cmdRunner) Diagnose(context.Context) string { return "" }
func (r *cmdRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *cmdRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *cmdRunner) Name() string                    { return r.path }
func (r *cmdRunner) ID() string                      { return strconv.Itoa(r.pid()) }

// Kill kills the plugin process. go-plugin calls it too as soon as a start
// fails (no handshake, stdout closed): it first waits, up to grace, until
// the plugin closed its stderr, so that what a dying plugin writes there
// reaches the start-up error. (A plugin the host kills on purpose has its
// process group killed before, so its stderr closes at once; after the
// handshake Kill does not wait.)
func (r *cmdRunner) Kill(context.Context) error {
	if e, ok := r.stderr.(*eofReader); ok && !r.handshaken.Load() {
		t := time.NewTimer(r.grace)
		select {
		case <-e.eof:
		case <-t.C:
		}
		t.Stop()
	}
	if r.cmd != nil && r.cmd.Process != nil {
		if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	return nil
}

func (r *cmdRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *cmdRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// pid is the process's id (0 before it started).
func (r *cmdRunner) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// afterHandshake passes the plugin's stdout on to go-plugin (which reads
// the handshake line from it and drops the rest) and copies every line
// after the first, the handshake, to w.
type afterHandshake struct {
	io.ReadCloser
	w    io.Writer
	seen bool // the handshake line is behind us
}

func (a *afterHandshake) Read(b []byte) (int, error) {
	n, err := a.ReadCloser.Read(b)
	rest := b[:n]
	if !a.seen {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return n, err
		}
		a.seen, rest = true, rest[i+1:]
	}
	if len(rest) > 0 {
		a.w.Write(rest)
	}
	return n, err
}

// execPath makes the plugin's path one that exec runs as a file: a bare
// name ("plugin", also what "./plugin" resolves to) would otherwise be
// looked up in $PATH and could start another program.
func execPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	if !strings.ContainsRune(path, filepath.Separator) {
		return "." + string(filepath.Separator) + path
	}
	return path
}

// explainStart makes go-plugin's start errors say what is wrong, in one line.
func explainStart(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"):
		return errors.New("not a pipe rpc plugin: it exited without writing the go-plugin handshake line on stdout")
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		rest := strings.SplitN(msg, "Unrecognized remote plugin message:", 2)[1]
		line, _, _ := strings.Cut(strings.TrimPrefix(rest, " "), "\n") // go-plugin's explanation follows on the next lines
		if line = strings.TrimSpace(line); line == "" {
			return errors.New("not a pipe rpc plugin: it wrote an empty line on stdout where the go-plugin handshake line belongs")
		}
		return fmt.Errorf("not a pipe rpc plugin: it wrote %q on stdout where the go-plugin handshake line belongs", line)
	case strings.Contains(msg, "incompatible API version"):
		return fmt.Errorf("not a pipe rpc plugin of protocol version %d: %w", ProtocolVersion, err)
	case strings.Contains(msg, "exited before we could connect"):
		return fmt.Errorf("not a working pipe rpc plugin: it exited before the go-plugin handshake: %w", err)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return errors.New("not a working pipe rpc plugin: no go-plugin handshake line on stdout within start_timeout")
	case strings.Contains(msg, "protocol"):
		return fmt.Errorf("not a pipe rpc plugin (want the grpc protocol): %w", err)
	}
	return err
}

func checkHealth(ctx context.Context, cc *grpc.ClientConn) error {
	resp, err := grpc_health_v1.NewHealthClient(cc).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return err
	}
	if resp.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", resp.Status)
	}
	return nil
}

// kill stops the process and its process group at once (SIGKILL): for a
// plugin that does not answer, crashed or never completed its handshake.
// It returns once go-plugin has copied the last of the plugin's stderr
// (and the tail's partial last line is flushed).
func (p *proc) kill() {
	if pid := p.run.pid(); pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	p.client.Kill()
	for _, w := range p.writers {
		w.flush()
	}
}

// stopGrace bounds a polite stop: go-plugin's shutdown, its kill after 2s,
// and the wait until the plugin's stdout and stderr are closed.
const stopGrace = 5 * time.Second

// stop closes the plugin politely (go-plugin's shutdown); processes that
// still hold its stdout or stderr after stopGrace are killed.
func (p *proc) stop() {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopGrace):
		p.kill()
		<-done
	}
}

// exited reports whether the process is gone.
func (p *proc) exited() bool { return p.client.Exited() }

// tail keeps a plugin's last stderr lines and logs every line of its
// stderr and stdout (with stream=stderr or stdout).
type tail struct {
	log   *slog.Logger
	fault func(line string) error // Child.Fault; nil for plugins
	mu    sync.Mutex
	lines []string
	// faulted is the first fault a line of the current process told of.
	faulted error
}

const tailLines = 10

func newTail(log *slog.Logger) *tail { return &tail{log: log} }

// newTail makes the tail of one worker's processes; a child's tail looks
// for the lines that say the child died of its record (Child.Fault).
func (s *stage) newTail() *tail {
	t := newTail(s.log)
	if s.child != nil {
		t.fault = s.child.Fault
	}
	return t
}

// takeFault returns, and forgets, the fault the process's stderr told of
// since the last call (nil: none).
func (t *tail) takeFault() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.faulted
	t.faulted = nil
	return err
}

func (t *tail) writer(stream string) *lineWriter { return &lineWriter{t: t, stream: stream} }

// last returns the last stderr lines, as an error-message suffix.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(t.lines, " | ")
}

func (t *tail) line(stream, line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return
	}
	if t.fault != nil && stream == "stderr" {
		t.mu.Lock()
		dying := t.faulted != nil
		t.mu.Unlock()
		if dying {
			return // the Go runtime's traceback after the fault: hundreds of lines
		}
		if err := t.fault(line); err != nil {
			t.mu.Lock()
			t.faulted = err
			t.lines = append(t.lines[:0], line)
			t.mu.Unlock()
			t.log.Warn(line, "source", "plugin", "stream", stream)
			return
		}
	}
	level, msg, attrs := slog.LevelInfo, line, []any{"source", "plugin", "stream", stream}
	// go-plugin's own log lines (JSON hclog) keep their level.
	if strings.HasPrefix(line, "{") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			if m, ok := e["@message"].(string); ok {
				msg = m
				switch e["@level"] {
				case "trace", "debug":
					level = slog.LevelDebug
				case "warn":
					level = slog.LevelWarn
				case "error":
					level = slog.LevelError
				}
			}
		}
	}
	t.log.Log(context.Background(), level, msg, attrs...)
	if level < slog.LevelInfo || stream != "stderr" {
		return
	}
	t.mu.Lock()
	if n := len(t.lines); n > 0 && t.lines[n-1] == msg {
		t.mu.Unlock()
		return // the same line again (a plugin crashing in a loop)
	}
	t.lines = append(t.lines, msg)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
	t.mu.Unlock()
}

// lineWriter splits a stream into lines for a tail.
type lineWriter struct {
	t      *tail
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	rest := string(w.buf)
	w.buf = w.buf[:0]
	w.mu.Unlock()
	w.t.line(w.stream, rest)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	var lines []string
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		lines = append(lines, string(w.buf))
		w.buf = w.buf[:0]
	}
	w.mu.Unlock()
	for _, l := range lines {
		w.t.line(w.stream, l)
	}
	return len(p), nil
}
