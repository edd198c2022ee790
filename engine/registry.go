package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NativeFunc makes one instance of a Go transformer from the stage's config:
// map. It decodes and validates cfg (cfg.Decode rejects unknown fields) and
// does no I/O; an Opener does I/O in Open. It is called once per worker.
type NativeFunc func(cfg Config) (Transformer, error)

// Native describes a Go transformer registered by name (type: native, use: NAME).
type Native struct {
	Name    string
	Summary string // one line, shown by `pipe help native`
	New     NativeFunc
}

// Stage is a built stage: what a kind returns for one StageSpec. Work that
// all instances share (compiling a script or module, loading a .so) is done
// once per stage, in Load; New makes one instance per worker.
type Stage interface {
	// New returns a new instance for one worker. It is called after Load.
	New(ctx context.Context) (Transformer, error)
}

// Loader is implemented by stages that load or compile something once per
// stage (read and compile a script, compile a wasm module, check a plugin
// binary). `pipe lint` calls Load and nothing further; errors from Load that
// are the user's (a syntax error, a missing export) should be *ConfigError
// values so that they exit with status 2.
type Loader interface {
	Load(ctx context.Context) error
}

// KindFunc builds the stages of one kind from their spec. It decodes and
// validates the kind's fields (spec.Extra.Decode for fields of its own) and
// does no I/O; errors should come from spec.Errorf so they carry positions.
type KindFunc func(spec *StageSpec, env *BuildEnv) (Stage, error)

// BuildEnv is what a KindFunc gets besides the stage spec.
type BuildEnv struct {
	Registry *Registry
	// Codec is the codec of the records entering the stage: under
	// "ndjson" each record is one JSON value.
	Codec string
	// Timeout is the stage's effective per-record timeout (0: none). The
	// engine enforces it; a kind may use it to skip machinery that only
	// interrupting needs (wasm's per-loop check when there is none).
	Timeout time.Duration
	// Logger carries the stage's name and kind; stage output (console.log,
	// guest stderr, plugin logs) goes here.
	Logger *slog.Logger
	// Events lets the kind report what the engine cannot see (restarts),
	// for --stats and the metrics.
	Events *StageEvents
}

// StageEvents collects events a stage kind reports (counted in the stats,
// and handed to the EventHook of WithEvents, e.g. an audit log). Its
// methods are safe for concurrent use.
type StageEvents struct {
	stage, kind string
	hook        EventHook
	restarts    atomic.Int64
}

// EventHook hears of stage events: plugin_started, plugin_crashed,
// plugin_restarted and whatever kinds report with Emit.
type EventHook func(stage, kind, event string, attrs map[string]any)

// Emit reports an event with key-value attributes.
func (e *StageEvents) Emit(event string, kv ...any) {
	if e == nil || e.hook == nil {
		return
	}
	attrs := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		attrs[fmt.Sprint(kv[i])] = kv[i+1]
	}
	e.hook(e.stage, e.kind, event, attrs)
}

// Restarted records that the stage's runtime was restarted (an rpc plugin
// after a crash or hang); kv are attributes for the event hook.
func (e *StageEvents) Restarted(kv ...any) {
	if e != nil {
		e.restarts.Add(1)
		e.Emit("plugin_restarted", kv...)
	}
}

// Resolver finds the plugin a stage names with use: NAME or
// use: NAME@CONSTRAINT (plugin directories, see `pipe plugins`).
type Resolver interface {
	// Resolve returns the highest compatible version of the plugin name
	// that satisfies constraint ("" for any). ok is false when no plugin of
	// that name exists at all (so a native transformer may be meant).
	Resolve(spec *Spec, name, constraint string) (p ResolvedPlugin, ok bool, err error)
}

// ResolvedPlugin is what a stage runs after resolution.
type ResolvedPlugin struct {
	Name, Version string
	Kind          string // the stage type: lua, js, wasm, rpc, native
	Entry         string // absolute path of the script, module or binary
	// ConfigSchema, if not nil, is a JSON Schema the stage's config: must
	// match (checked when the pipeline is built).
	ConfigSchema []byte
	// SHA256, if not empty, is the hex SHA-256 of Entry when it was
	// resolved (and its signature checked). A kind that reads Entry again
	// later, as rpc does to restart a plugin, refuses a file that no longer
	// matches (StageSpec.PluginSHA256).
	SHA256 string
}

// PluginLoader loads a Go plugin (.so) for type: native, path: FILE and
// returns its constructor. Registered by package stages/native. It is
// called from the stage's Load (so `pipe lint` loads the plugin too), once
// per stage, with the path resolved against the pipeline file; the
// constructor is then called once per worker. An error is reported as a
// *ConfigError at the stage's path: field, wrapping it.
type PluginLoader func(ctx context.Context, path string) (NativeFunc, error)

// Registry holds stage kinds and named native transformers. It is a value:
// tests and embedders can make their own with NewRegistry; the package-level
// functions use DefaultRegistry.
type Registry struct {
	mu      sync.RWMutex
	kinds   map[string]KindFunc
	natives map[string]Native
	plugins PluginLoader
}

// NewRegistry returns a registry that knows the native kind and nothing else.
func NewRegistry() *Registry {
	r := &Registry{kinds: map[string]KindFunc{}, natives: map[string]Native{}}
	r.kinds["native"] = buildNative
	return r
}

// DefaultRegistry is used by Load, Build and the package-level Register
// functions unless a registry is given.
var DefaultRegistry = NewRegistry()

// Register registers a Go transformer under name in DefaultRegistry. It
// panics if name is empty or taken (a programmer error, like
// database/sql.Register).
func Register(name string, fn NativeFunc) { DefaultRegistry.Register(name, fn) }

// RegisterNative registers a described Go transformer in DefaultRegistry.
func RegisterNative(n Native) { DefaultRegistry.RegisterNative(n) }

// RegisterKind registers a stage kind in DefaultRegistry.
func RegisterKind(name string, fn KindFunc) { DefaultRegistry.RegisterKind(name, fn) }

// Register registers a Go transformer under name.
func (r *Registry) Register(name string, fn NativeFunc) {
	r.RegisterNative(Native{Name: name, New: fn})
}

// RegisterNative registers a described Go transformer.
func (r *Registry) RegisterNative(n Native) {
	if n.Name == "" || n.New == nil || strings.ContainsAny(n.Name, " @/") {
		panic(fmt.Sprintf("engine: invalid native transformer registration %q", n.Name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.natives[n.Name]; dup {
		panic(fmt.Sprintf("engine: native transformer %q registered twice", n.Name))
	}
	r.natives[n.Name] = n
}

// RegisterKind registers a stage kind (type: NAME).
func (r *Registry) RegisterKind(name string, fn KindFunc) {
	if name == "" || fn == nil {
		panic("engine: invalid kind registration")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.kinds[name]; dup {
		panic(fmt.Sprintf("engine: stage kind %q registered twice", name))
	}
	r.kinds[name] = fn
}

// SetPluginLoader installs the loader of Go .so plugins.
func (r *Registry) SetPluginLoader(l PluginLoader) {
	r.mu.Lock()
	r.plugins = l
	r.mu.Unlock()
}

// SetPluginLoader installs the loader of Go .so plugins in DefaultRegistry.
func SetPluginLoader(l PluginLoader) { DefaultRegistry.SetPluginLoader(l) }

// Kind returns the builder of a stage kind.
func (r *Registry) Kind(name string) (KindFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.kinds[name]
	return k, ok
}

// Kinds returns the registered kind names, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// LookupNative returns the native transformer registered under name.
func (r *Registry) LookupNative(name string) (Native, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, ok := r.natives[name]
	return n, ok
}

// Natives returns the registered native transformers, sorted by name.
func (r *Registry) Natives() []Native {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Native, 0, len(r.natives))
	for _, n := range r.natives {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Native) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// buildNative is the built-in native kind: use: NAME picks a registered
// transformer, path: FILE.so a Go plugin (through the PluginLoader).
func buildNative(spec *StageSpec, env *BuildEnv) (Stage, error) {
	if spec.Code != "" {
		return nil, spec.Errorf("code", "native stages take use: NAME or path: FILE.so, not code:")
	}
	switch {
	case spec.Use != "" && spec.Path != "":
		return nil, spec.Errorf("path", "native stage takes use: or path:, not both")
	case spec.Use != "":
		n, ok := env.Registry.LookupNative(spec.Use)
		if !ok {
			var names []string
			for _, x := range env.Registry.Natives() {
				names = append(names, x.Name)
			}
			msg := fmt.Sprintf("no native transformer named %q", spec.Use)
			if s := closest(spec.Use, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, spec.Errorf("use", "%s; registered: %s", msg, strings.Join(names, ", "))
		}
		// Build one instance now: it validates the config without I/O and
		// serves as the first worker's instance.
		t, err := n.New(spec.Config)
		if err != nil {
			return nil, configErr(spec, err)
		}
		s := &nativeStage{fn: n.New, cfg: spec.Config}
		s.first.Keep(t)
		return s, nil
	case spec.Path != "":
		r := env.Registry
		r.mu.RLock()
		l := r.plugins
		r.mu.RUnlock()
		if l == nil {
			return nil, spec.Errorf("path", "this build cannot load Go plugins (.so): import github.com/pipe-dev/pipe/stages/native")
		}
		return &nativeStage{loader: l, path: spec.Resolve(spec.Path), cfg: spec.Config, spec: spec}, nil
	}
	return nil, spec.Errorf("type", "native stage needs use: NAME (a registered transformer) or path: FILE.so")
}

// configErr turns a constructor's error into a positioned config error.
func configErr(spec *StageSpec, err error) error {
	if ce, ok := err.(*ConfigError); ok {
		if ce.File == "" && ce.Line == 0 && spec.src.node == nil {
			// A stage built in code (filter mode): name the stage.
			return &ConfigError{Msg: fmt.Sprintf("stage %s: config: %s", quote(spec.Name), ce.Msg), Err: ce.Err}
		}
		return err
	}
	return spec.Errorf("config", "%v", err)
}

type nativeStage struct {
	fn     NativeFunc
	cfg    Config
	first  First[Transformer]
	loader PluginLoader
	path   string
	spec   *StageSpec
}

func (s *nativeStage) Load(ctx context.Context) error {
	if s.loader == nil || s.fn != nil {
		return nil
	}
	fn, err := s.loader(ctx, s.path)
	if err != nil {
		// Positioned at the stage's path: field, exit status 2; the
		// loader's error stays reachable with errors.As.
		if _, ok := err.(*ConfigError); ok {
			return err
		}
		perr := s.spec.Errorf("path", "%v", err)
		if ce, ok := perr.(*ConfigError); ok && ce.Err == nil {
			ce.Err = err
		}
		return perr
	}
	t, err := fn(s.cfg)
	if err != nil {
		return configErr(s.spec, err)
	}
	s.fn = fn
	s.first.Keep(t)
	return nil
}

func (s *nativeStage) New(ctx context.Context) (Transformer, error) {
	if t, ok := s.first.Take(); ok {
		return t, nil
	}
	if s.fn == nil {
		return nil, fmt.Errorf("native stage used before Load")
	}
	return s.fn(s.cfg)
}

// goStage serves StageSpec.New (stages built in Go code).
type goStage struct{ fn func() (Transformer, error) }

func (s goStage) New(context.Context) (Transformer, error) { return s.fn() }
