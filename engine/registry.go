package engine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/internal/suggest"
)

// NativeFunc makes one instance of a Go transformer from the stage's config:
// map. It decodes and validates cfg (cfg.Decode rejects unknown fields) and
// does no I/O; an Opener does I/O in Open. It is called once per worker.
type NativeFunc func(cfg Config) (Transformer, error)

// Native describes a Go transformer registered by name (type: native, use: NAME).
type Native struct {
	Name    string
	Summary string // one line, shown by `pipe stages`
	New     NativeFunc
	// Config is the zero value of the struct New decodes cfg into (or a
	// pointer to one). Its fields and tags (see package component) are the
	// transformer's spec: checked when the pipeline file is parsed, shown
	// by `pipe stages NAME`, `pipe schema` and the reference docs. nil
	// leaves the config open: any config: is accepted until New checks it.
	Config any
	// Doc is a longer description (Markdown), Examples show the
	// transformer in a pipeline file.
	Doc      string
	Examples []component.Example
}

// Spec returns the transformer's component spec.
func (n Native) Spec() component.Spec {
	s := component.New(component.ClassNative, n.Name, n.Summary, n.Config)
	s.Doc, s.Examples = n.Doc, n.Examples
	return s
}

// KindSpec describes a stage kind (type: NAME): how it builds stages, the
// fields it adds to a stage, and what the command line and a live reload
// need to know about it, so that nothing outside the kind's package names
// it.
type KindSpec struct {
	Name    string
	Summary string // one line
	Doc     string // longer description (Markdown)
	Build   KindFunc
	// Options is the zero value of the struct the kind decodes the stage's
	// own fields into (spec.Extra.Decode): modules:, memory_limit:, args:,
	// ... Its fields and tags make the kind's spec; nil leaves the kind's
	// fields open (any field is accepted by the schema; fields the kind
	// does not decode are still reported as unknown when it is built).
	Options  any
	Examples []component.Example
	// Flag, if not nil, is the kind's filter-mode flag: pipe run --NAME VALUE.
	Flag *FilterFlag
	// Files returns the files and directories a stage of this kind depends
	// on, absolute or relative to the pipeline file (StageSpec.Resolve):
	// what `pipe run --watch` watches besides the pipeline file and
	// schema files. nil means the stage's path:, if any.
	Files func(s *StageSpec) []string
	// Live reports whether a stage built from next can replace the stages
	// of this kind running now in a live run (pipe run --watch, SIGHUP); an
	// error refuses the reload and says why (a Go .so cannot be unloaded).
	// It is called before next is loaded; prev is the running stage of the
	// same name, nil if there is none. nil means every change applies live.
	Live func(prev Stage, next *StageSpec) error
}

// FilterFlag is a kind's flag in filter mode (pipe run --NAME VALUE,
// repeatable, stages in order).
type FilterFlag struct {
	// Value names what the flag takes, for --help: CODE, PATH, NAME|PATH.
	Value string
	Usage string
	// Set fills the stage's fields from the flag's value (code:, path:,
	// use:).
	Set func(s *StageSpec, value string)
	// Args, if not empty, is the kind's list field that --arg VALUE after
	// the flag appends to (rpc: "args").
	Args string
}

// Spec returns the kind's component spec.
func (k KindSpec) Spec() component.Spec {
	s := component.New(component.ClassKind, k.Name, k.Summary, k.Options)
	s.Doc, s.Examples = k.Doc, k.Examples
	return s
}

// StageFiles returns the files a stage of this kind depends on, resolved
// against the pipeline file (see Files).
func (k KindSpec) StageFiles(s *StageSpec) []string {
	var files []string
	if k.Files != nil {
		files = k.Files(s)
	} else if s.Path != "" {
		files = []string{s.Path}
	}
	for i, f := range files {
		files[i] = s.Resolve(f)
	}
	return files
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

// Registry holds the components a pipeline can use: stage kinds, named
// native transformers, and the specs of inputs, outputs and codecs. It is a
// value: tests and embedders make their own with NewRegistry, or Clone one
// (DefaultRegistry, say) to add to an isolated copy; the package-level
// functions use DefaultRegistry. Its methods are safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	kinds   map[string]KindSpec
	natives map[string]Native
	// components holds the specs of inputs, outputs, codecs and steps as
	// functions that build them on first use (sync.OnceValue): reflecting
	// a connector's config struct costs more than a run that never shows
	// a spec needs (issue 20, start-up).
	components map[component.Class]map[string]func() component.Spec
	plugins    PluginLoader
	isolator   Isolator
	inputs     map[string]connector.InputType
	outputs    map[string]connector.OutputType
}

// NewRegistry returns a registry that knows the native kind, the built-in
// inputs, outputs and codecs, and nothing else.
func NewRegistry() *Registry {
	r := &Registry{kinds: map[string]KindSpec{}, natives: map[string]Native{}, components: map[component.Class]map[string]func() component.Spec{}}
	r.kinds[nativeKind.Name] = nativeKind
	builtinComponents(r)
	builtinConnectors(r)
	return r
}

// DefaultRegistry is used by Load, Build and the package-level Register
// functions unless a registry is given.
var DefaultRegistry = NewRegistry()

// Clone returns a copy of r: registering in one does not change the other.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := &Registry{kinds: maps.Clone(r.kinds), natives: maps.Clone(r.natives),
		components: map[component.Class]map[string]func() component.Spec{}, plugins: r.plugins, isolator: r.isolator,
		inputs: maps.Clone(r.inputs), outputs: maps.Clone(r.outputs)}
	for class, m := range r.components {
		c.components[class] = maps.Clone(m)
	}
	return c
}

// Register registers a Go transformer under name in DefaultRegistry. It
// panics if name is empty or taken (a programmer error, like
// database/sql.Register). Its config is open (not described by a spec);
// RegisterNative with a Native.Config describes it.
func Register(name string, fn NativeFunc) { DefaultRegistry.Register(name, fn) }

// RegisterNative registers a described Go transformer in DefaultRegistry.
func RegisterNative(n Native) { DefaultRegistry.RegisterNative(n) }

// RegisterKind registers a stage kind in DefaultRegistry, with open fields
// and no filter-mode flag; RegisterKindSpec describes one.
func RegisterKind(name string, fn KindFunc) { DefaultRegistry.RegisterKind(name, fn) }

// RegisterKindSpec registers a described stage kind in DefaultRegistry.
func RegisterKindSpec(k KindSpec) { DefaultRegistry.RegisterKindSpec(k) }

// RegisterComponent registers the spec of an input, output or codec in
// DefaultRegistry.
func RegisterComponent(s component.Spec) { DefaultRegistry.RegisterComponent(s) }

// Register registers a Go transformer under name, with an open config.
func (r *Registry) Register(name string, fn NativeFunc) {
	r.RegisterNative(Native{Name: name, New: fn})
}

// RegisterNative registers a described Go transformer. It panics on an
// invalid or duplicate registration.
func (r *Registry) RegisterNative(n Native) {
	if n.Name == "" || n.New == nil || strings.ContainsAny(n.Name, " @/") {
		panic(fmt.Sprintf("engine: invalid native transformer registration %q", n.Name))
	}
	checkConfigType(n.Name, n.Config)
	putOnce(r, &r.natives, "native transformer", n.Name, n)
}

// RegisterKind registers a stage kind (type: NAME) with open fields.
func (r *Registry) RegisterKind(name string, fn KindFunc) {
	r.RegisterKindSpec(KindSpec{Name: name, Build: fn})
}

// RegisterKindSpec registers a described stage kind. It panics on an
// invalid or duplicate registration.
func (r *Registry) RegisterKindSpec(k KindSpec) {
	if k.Name == "" || k.Build == nil || strings.ContainsAny(k.Name, " @/") {
		panic(fmt.Sprintf("engine: invalid kind registration %q", k.Name))
	}
	checkConfigType(k.Name, k.Options)
	putOnce(r, &r.kinds, "stage kind", k.Name, k)
}

// putOnce stores v under name in the map *m (made if nil), holding r.mu. A
// name already taken is a programmer error: it panics.
func putOnce[T any](r *Registry, m *map[string]T, what, name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := (*m)[name]; dup {
		panic(fmt.Sprintf("engine: %s %q registered twice", what, name))
	}
	if *m == nil {
		*m = map[string]T{}
	}
	(*m)[name] = v
}

// lookup returns the value under name in the map *m, holding r.mu for
// reading.
func lookup[T any](r *Registry, m *map[string]T, name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := (*m)[name]
	return v, ok
}

// RegisterComponent registers the spec of an input, output, codec or step
// (class ClassInput, ClassOutput, ClassCodec or ClassStep). It panics on an invalid or
// duplicate registration.
func (r *Registry) RegisterComponent(s component.Spec) {
	r.registerSpec(s.Class, s.Name, func() component.Spec { return s })
}

// registerSpec registers the spec of class and name that spec builds; spec
// is called at most once, when a spec of the class is first asked for
// (SpecsOf, Specs, Lookup). It panics on an invalid or duplicate
// registration.
func (r *Registry) registerSpec(class component.Class, name string, spec func() component.Spec) {
	switch class {
	case component.ClassInput, component.ClassOutput, component.ClassCodec, component.ClassStep:
	default:
		panic(fmt.Sprintf("engine: RegisterComponent takes inputs, outputs and codecs, not %q (use RegisterNative or RegisterKindSpec)", class))
	}
	if name == "" {
		panic("engine: invalid component registration")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.components[class]
	if m == nil {
		m = map[string]func() component.Spec{}
		r.components[class] = m
	}
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("engine: %s %q registered twice", class, name))
	}
	m[name] = sync.OnceValue(spec)
}

// checkConfigType panics unless config is nil or a struct (or a pointer to
// one): a programmer error found at registration.
func checkConfigType(name string, config any) {
	if config == nil {
		return
	}
	t := reflect.TypeOf(config)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("engine: %s: the config of a spec must be a struct, got %T", name, config))
	}
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
	k, ok := r.KindSpec(name)
	return k.Build, ok
}

// KindSpec returns the description of a stage kind.
func (r *Registry) KindSpec(name string) (KindSpec, bool) {
	return lookup(r, &r.kinds, name)
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

// KindSpecs returns the registered kinds, sorted by name.
func (r *Registry) KindSpecs() []KindSpec {
	var out []KindSpec
	for _, name := range r.Kinds() {
		k, _ := r.KindSpec(name)
		out = append(out, k)
	}
	return out
}

// LookupNative returns the native transformer registered under name.
func (r *Registry) LookupNative(name string) (Native, bool) {
	return lookup(r, &r.natives, name)
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

// Specs returns the spec of every registered component: inputs, codecs,
// stage kinds, native transformers and outputs (component.Classes order),
// each class sorted by name.
func (r *Registry) Specs() []component.Spec {
	var out []component.Spec
	for _, c := range component.Classes {
		out = append(out, r.SpecsOf(c)...)
	}
	return out
}

// SpecsOf returns the specs of one class of components, sorted by name.
func (r *Registry) SpecsOf(class component.Class) []component.Spec {
	var out []component.Spec
	switch class {
	case component.ClassKind:
		for _, k := range r.KindSpecs() {
			out = append(out, k.Spec())
		}
	case component.ClassNative:
		for _, n := range r.Natives() {
			out = append(out, n.Spec())
		}
	default:
		r.mu.RLock()
		specs := make([]func() component.Spec, 0, len(r.components[class]))
		for _, s := range r.components[class] {
			specs = append(specs, s)
		}
		r.mu.RUnlock()
		for _, s := range specs {
			out = append(out, s()) // outside the lock: a spec is built on first use
		}
		slices.SortFunc(out, func(a, b component.Spec) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// Lookup returns the components called name, in component.Classes order
// ("file" is an input and an output); name may also be CLASS/NAME
// ("output/file", "kind/native").
func (r *Registry) Lookup(name string) []component.Spec {
	var out []component.Spec
	for _, s := range r.Specs() {
		if s.Name == name || s.ID() == name {
			out = append(out, s)
		}
	}
	return out
}

// nativeKind is the built-in native kind: use: NAME picks a registered
// transformer, path: FILE.so a Go plugin (through the PluginLoader).
var nativeKind = KindSpec{
	Name:    "native",
	Summary: "Go transformers compiled in (use: NAME) or loaded from a Go plugin (path: FILE.so)",
	Doc: "A native stage runs Go code in the process: a transformer registered by name " +
		"(`pipe stages` lists them; each has its own reference page for its `config:`), " +
		"or a Go plugin built with `go build -buildmode=plugin`, checked against pipe's Go and module versions before it is loaded. " +
		"A Go plugin cannot be unloaded: `pipe run --watch` refuses a reload that changes a loaded `.so` and asks for a restart.",
	Build:   buildNative,
	Options: struct{}{},
	Examples: []component.Example{
		{Title: "a compiled-in transformer", YAML: "- {name: shout, type: native, use: case, config: {to: upper}}"},
		{Title: "a Go plugin", YAML: "- {name: upper, type: native, path: plugins/upper.so}"},
	},
	Flag: &FilterFlag{Value: "NAME|PATH", Usage: "filter mode: a native transformer by name, or a Go plugin .so",
		Set: func(s *StageSpec, v string) {
			if strings.HasSuffix(v, ".so") || strings.ContainsRune(v, os.PathSeparator) {
				s.Path = v
			} else {
				s.Use = v
			}
		}},
	Live: func(_ Stage, next *StageSpec) error {
		if next.Path == "" {
			return nil
		}
		path := next.Resolve(next.Path)
		loaded, ok := loadedPlugins.Load(path)
		if !ok {
			return nil // new to this process: a reload loads it
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // Load reports it
		}
		if sha256.Sum256(b) != loaded.([32]byte) {
			return fmt.Errorf("%s: a Go plugin (.so) cannot be unloaded or reloaded; restart pipe to use the changed plugin", path)
		}
		return nil
	},
}

// loadedPlugins maps the path of every Go plugin this process loaded to
// the sha256 of what was loaded: a plugin stays loaded for good.
var loadedPlugins sync.Map

// buildNative builds native stages.
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
			if s := suggest.Closest(spec.Use, names); s != "" {
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

// configErr turns a constructor's error into positioned config errors.
// An error without a position (the stage has no config: block, or was
// built in code) is placed at the stage and names it.
func configErr(spec *StageSpec, err error) error {
	all := AllConfigErrors(err)
	if all == nil {
		return spec.Errorf("config", "%v", err)
	}
	var out errList
	for _, ce := range all {
		if ce.Line != 0 {
			out.add(ce)
			continue
		}
		if spec.src.node == nil {
			// A stage built in code (filter mode): name the stage.
			out.add(&ConfigError{File: ce.File, Msg: fmt.Sprintf("stage %s: config: %s", quote(spec.Name), ce.Msg), Err: ce.Err})
			continue
		}
		e := spec.Errorf("config", "stage %s: config: %s", quote(spec.Name), ce.Msg)
		if pe, ok := e.(*ConfigError); ok && ce.Err != nil {
			pe.Err = ce.Err
		}
		out.add(e)
	}
	return out.err()
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
	if b, err := os.ReadFile(s.path); err == nil {
		loadedPlugins.LoadOrStore(s.path, sha256.Sum256(b))
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
