package rpc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterKindSpec(engine.KindSpec{
		Name:    "rpc",
		Summary: "out-of-process plugins over gRPC (hashicorp/go-plugin), crash-isolated, any language",
		Doc: "The executable speaks the Transformer service of stages/rpc/PROTOCOL.md (the Go SDK: `rpc.Serve`). " +
			"The host health-checks it, restarts it after a crash (up to `max_restarts`, with backoff) and re-sends the " +
			"batch in flight, so a crash loses no record. The stage's `config:` is sent to the plugin's Open as JSON.",
		Build:   build,
		Options: options{},
		Examples: []component.Example{
			{Title: "a plugin with arguments and a pinned binary", YAML: "- {name: geo, type: rpc, path: bin/geo-plugin, args: [--fast], max_restarts: 3}"},
		},
		Flag: &engine.FilterFlag{Value: "PATH", Usage: "filter mode: an rpc plugin stage (executable); --arg after it passes an argument",
			Set: func(s *engine.StageSpec, v string) { s.Path = v }, Args: "args"},
	})
}

// options are the fields only rpc stages know.
type options struct {
	// Args are the plugin's command-line arguments.
	Args []string `yaml:"args" example:"[--fast]" doc:"The plugin's command-line arguments."`
	// SHA256 pins the plugin binary: a different binary is refused.
	SHA256 string `yaml:"sha256" example:"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" doc:"Hex SHA-256 the plugin binary must have (as printed by sha256sum)."`
	// Env is the plugin's environment besides PATH (the host's own
	// environment is not passed on).
	Env map[string]string `yaml:"env" example:"{GEO_DB: /data/geo.mmdb}" doc:"The plugin's environment besides PATH (the host's own is not passed on)."`
	// StartTimeout bounds the start of the process up to its handshake.
	StartTimeout *time.Duration `yaml:"start_timeout" default:"10s" doc:"Time the process has to start and complete its handshake."`
	// HealthInterval is how often a long call checks that the plugin
	// still answers its health service.
	HealthInterval *time.Duration `yaml:"health_interval" default:"2s" doc:"How often a long call checks that the plugin still answers its health service; 0 for never."`
	// MaxRestarts bounds the restarts of a worker's plugin (after a crash,
	// a kill for not answering, or a failed restart) within RestartWindow;
	// one more stops the pipeline.
	MaxRestarts *int `yaml:"max_restarts" default:"5" doc:"Restarts of a worker's plugin (after a crash, a hang or a failed restart) allowed within restart_window; one more stops the pipeline."`
	// RestartWindow is the period over which MaxRestarts counts.
	RestartWindow *time.Duration `yaml:"restart_window" default:"1m" doc:"The period over which max_restarts counts."`
}

// Defaults of the rpc kind's fields.
const (
	DefaultStartTimeout   = 10 * time.Second
	DefaultHealthInterval = 2 * time.Second
	DefaultMaxRestarts    = 5
	DefaultRestartWindow  = time.Minute
)

type stage struct {
	spec *engine.StageSpec
	path string
	opts options
	sum  []byte // pinned sha256, nil if none

	config  []byte // the config: mapping as JSON
	codec   string
	log     *slog.Logger
	events  *engine.StageEvents
	startTO time.Duration
	health  time.Duration
	retries int
	window  time.Duration // restart_window

	// label names the process in errors: "plugin PATH", or what NewChild
	// was given.
	label string
	child *Child // set for the child of an isolated stage (NewChild)

	mu     sync.Mutex
	loaded bool
	first  engine.First[*proc] // started and opened by Load, for the first worker
	closed bool
}

func build(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	var o options
	if err := spec.Extra.Decode(&o); err != nil {
		return nil, err
	}
	if spec.Code != "" {
		return nil, spec.Errorf("code", "rpc stages run an executable (path:), not code:")
	}
	if spec.Use != "" {
		return nil, spec.Errorf("use", "rpc stages run an executable (path:), not use:")
	}
	if spec.Path == "" {
		return nil, spec.Errorf("type", "rpc stage needs path: EXECUTABLE (a plugin built with the rpc SDK or speaking its protocol)")
	}
	s := &stage{spec: spec, path: spec.Resolve(spec.Path), opts: o, codec: env.Codec, log: env.Logger, events: env.Events,
		startTO: DefaultStartTimeout, health: DefaultHealthInterval, retries: DefaultMaxRestarts, window: DefaultRestartWindow}
	s.label = "plugin " + s.path
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.SHA256 != "" {
		h := strings.TrimPrefix(strings.ToLower(o.SHA256), "sha256:")
		sum, err := hex.DecodeString(h)
		if err != nil || len(sum) != sha256.Size {
			return nil, spec.Errorf("sha256", "sha256 must be 64 hex digits (as printed by sha256sum), got %q", o.SHA256)
		}
		s.sum = sum
	} else if h := spec.PluginSHA256(); h != "" {
		// A plugin from a plugin directory: every start, restarts after
		// a crash included, runs the binary that was resolved (and whose
		// signature was checked), not one swapped in since.
		if sum, err := hex.DecodeString(h); err == nil && len(sum) == sha256.Size {
			s.sum = sum
		}
	}
	if o.StartTimeout != nil {
		if *o.StartTimeout <= 0 {
			return nil, spec.Errorf("start_timeout", "start_timeout must be positive")
		}
		s.startTO = *o.StartTimeout
	}
	if o.HealthInterval != nil {
		s.health = *o.HealthInterval // 0: no health checks during calls
	}
	if o.MaxRestarts != nil {
		if *o.MaxRestarts < 0 {
			return nil, spec.Errorf("max_restarts", "max_restarts must not be negative")
		}
		s.retries = *o.MaxRestarts
	}
	if o.RestartWindow != nil {
		if *o.RestartWindow <= 0 {
			return nil, spec.Errorf("restart_window", "restart_window must be positive")
		}
		s.window = *o.RestartWindow
	}
	for k := range o.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || k == MagicCookieKey {
			return nil, spec.Errorf("env", "invalid environment variable name %q", k)
		}
	}
	js, err := spec.Config.JSON()
	if err != nil {
		return nil, spec.Errorf("config", "config cannot be sent to the plugin as JSON: %v", err)
	}
	s.config = js
	return s, nil
}

// Load checks the plugin binary (exists, executable, sha256) and starts it
// once: the handshake, the health service and Open with the stage's config
// must succeed, so `pipe lint` reports a binary that is not a plugin or a
// config the plugin rejects. The started process serves the first worker.
func (s *stage) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	if err := s.check(); err != nil {
		return err
	}
	p, err := s.start(ctx, s.newTail())
	if err != nil {
		return s.startErr(err)
	}
	s.first.Keep(p)
	s.loaded = true
	return nil
}

// check validates the binary without running it.
func (s *stage) check() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s.spec.Errorf("path", "plugin %s: no such file", s.path)
	case err != nil:
		return s.spec.Errorf("path", "plugin %s: %v", s.path, err)
	case fi.IsDir():
		return s.spec.Errorf("path", "plugin %s is a directory, not an executable", s.path)
	case fi.Mode().Perm()&0o111 == 0:
		return s.spec.Errorf("path", "plugin %s is not executable (chmod +x it)", s.path)
	}
	if s.sum != nil {
		_, err := s.verifyPin()
		var pe *PinError
		switch {
		case errors.As(err, &pe) && s.opts.SHA256 == "":
			return s.spec.Errorf("use", "plugin %s (%s) changed since it was resolved: sha256 %s, was %s: refusing to start it", s.spec.Plugin(), s.path, pe.Actual, pe.Expected)
		case errors.As(err, &pe):
			return s.spec.Errorf("sha256", "plugin %s has sha256 %s, the stage pins %s: refusing to start it", s.path, pe.Actual, pe.Expected)
		case err != nil:
			return s.spec.Errorf("path", "plugin %s: %v", s.path, err)
		}
	}
	return nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// startErr turns a failed first start into a configuration error: the
// binary is not a working plugin, or the plugin rejected its config.
func (s *stage) startErr(err error) error {
	var ce *engine.ConfigError
	if errors.As(err, &ce) {
		return err
	}
	var re *rejectedError
	if errors.As(err, &re) && s.child != nil {
		// The child's own configuration error, as its kind worded it. The
		// child has the stage without the file's positions: an error it
		// could only place at the stage ("FILE: stage NAME: msg") is
		// placed here, at the stage's code: (or type:).
		if file, msg, ok := strings.Cut(re.msg, ": stage "+s.spec.Name+": "); ok && !strings.Contains(file, ":") {
			field := "type"
			if s.spec.Code != "" {
				field = "code"
			}
			return s.spec.Errorf(field, "%s", msg)
		}
		return &engine.ConfigError{Msg: re.msg}
	}
	if errors.As(err, &re) {
		return s.spec.Errorf("config", "plugin %s rejected its config: %s", s.path, re.msg)
	}
	return s.spec.Errorf("path", "plugin %s: %v", s.path, err)
}

// New makes one worker's instance: batch-only (the engine runs a single
// record as a batch of one).
func (s *stage) New(context.Context) (engine.Transformer, error) {
	return engine.BatchOnly(s.instance()), nil
}

func (s *stage) instance() *instance {
	in := &instance{st: s}
	if p, ok := s.first.Take(); ok {
		in.p, in.tail = p, p.tail
	} else {
		in.tail = s.newTail()
	}
	return in
}

// Close stops a plugin that Load started and no instance took.
func (s *stage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if p, ok := s.first.Take(); ok {
		p.stop()
	}
	return nil
}

var (
	_ engine.Stage  = (*stage)(nil)
	_ engine.Loader = (*stage)(nil)
	_ io.Closer     = (*stage)(nil)
)
