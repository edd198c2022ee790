package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
)

// proc is one running plugin process.
type proc struct {
	client *plugin.Client
	cmd    *exec.Cmd
	c      *conn
	tail   *tail
	pid    int
}

// rejectedError is a plugin's refusal of its config (Open failed).
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return "plugin rejected its config: " + e.msg }

// start starts the plugin, checks its health service and opens it with the
// stage's config.
func (s *stage) start(ctx context.Context, tl *tail) (*proc, error) {
	cmd := exec.Command(execPath(s.path), s.opts.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	// Its own process group: kill reaches the processes a wrapper script
	// started (go-plugin waits until every holder of the plugin's stdout
	// and stderr is gone), and a Ctrl-C at the terminal reaches only the
	// host, which then drains and closes its plugins.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	keys := make([]string, 0, len(s.opts.Env))
	for k := range s.opts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+s.opts.Env[k])
	}
	var sc *plugin.SecureConfig
	if s.sum != nil {
		sc = &plugin.SecureConfig{Checksum: s.sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{PluginName: &grpcPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SecureConfig:     sc,
		StartTimeout:     s.startTO,
		Logger:           hclog.NewNullLogger(),
		Stderr:           tl.writer(),
		SyncStderr:       tl.writer(),
		SyncStdout:       tl.writer(),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))},
	})
	p := &proc{client: client, cmd: cmd, tail: tl}
	fail := func(err error) (*proc, error) {
		p.kill()
		return nil, fmt.Errorf("%w%s", err, tl.last())
	}
	cp, err := client.Client()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fail(fmt.Errorf("the binary does not match the pinned sha256: refusing to start it"))
		}
		return fail(explainStart(err))
	}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
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
	s.events.Emit("plugin_started", "path", s.path, "pid", p.pid, "sha256", s.fileSum())
	return p, nil
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
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	if p.pid > 0 {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	p.client.Kill()
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

// tail keeps a plugin's last stderr lines and logs every line.
type tail struct {
	log   *slog.Logger
	mu    sync.Mutex
	lines []string
}

const tailLines = 10

func newTail(log *slog.Logger) *tail { return &tail{log: log} }

func (t *tail) writer() *lineWriter { return &lineWriter{t: t} }

// last returns the last stderr lines, as an error-message suffix.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(t.lines, " | ")
}

func (t *tail) line(line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return
	}
	level, msg, attrs := slog.LevelInfo, line, []any{"source", "plugin"}
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
	if level < slog.LevelInfo {
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
	t   *tail
	mu  sync.Mutex
	buf []byte
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
		w.t.line(l)
	}
	return len(p), nil
}
