package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/internal/suggest"
)

// Option configures Load and Build.
type Option func(*options)

type options struct {
	reg      *Registry
	log      *slog.Logger
	lookup   LookupEnv
	resolver Resolver
	events   EventHook
	outputs  map[string]io.Writer // WithOutput
}

// WithOutput makes runs write the named output name (outputs: in the
// pipeline file) to w instead of its file or stdout; its codec still
// applies. The caller owns w: runs do not close it.
func WithOutput(name string, w io.Writer) Option {
	return func(o *options) {
		if o.outputs == nil {
			o.outputs = map[string]io.Writer{}
		}
		o.outputs[name] = w
	}
}

// WithEvents hands the events that stage kinds report (plugins started,
// crashed, restarted) to hook.
func WithEvents(hook EventHook) Option { return func(o *options) { o.events = hook } }

// WithResolver makes Build resolve use: NAME[@CONSTRAINT] through r.
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// WithRegistry makes Build use reg instead of DefaultRegistry.
func WithRegistry(reg *Registry) Option { return func(o *options) { o.reg = reg } }

// WithLogger sets the logger for the engine and stage output (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithEnv sets how ${VAR} references are looked up (default: os.LookupEnv).
func WithEnv(lookup LookupEnv) Option { return func(o *options) { o.lookup = lookup } }

func buildOptions(opts []Option) options {
	o := options{reg: DefaultRegistry, lookup: os.LookupEnv}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Parse parses a pipeline file's contents. file names it in errors and is the
// base of relative paths. Errors are *ConfigError values.
func Parse(data []byte, file string, opts ...Option) (*Spec, error) {
	o := buildOptions(opts)
	return parseSpec(data, file, o.lookup, o.reg)
}

// Load reads, parses and builds the pipeline file at path.
func Load(path string, opts ...Option) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Msg: fmt.Sprintf("read pipeline: %v", err), Err: err}
	}
	spec, err := Parse(data, path, opts...)
	if err != nil {
		return nil, err
	}
	return Build(spec, opts...)
}

// Pipeline is a built pipeline: validated, resolved into its Plan, with
// every stage built. Build does no I/O; scripts, modules and plugins are
// loaded by Load (or by the first Run). A Pipeline is a reusable value: each
// run has its own counters and stage instances (one run at a time); Close
// releases what its stages loaded.
type Pipeline struct {
	spec *Spec
	plan Plan
	// The input and output connectors and their fields.
	inType  connector.InputType
	inCfg   Config
	outType connector.OutputType
	outCfg  Config
	opts    options
	stages  []*stageExec // every step, depth first (Plan.Stages)
	graph   *segment     // the tree of a pipeline with switch or fanout steps; nil when flat
	named   map[string]namedConn

	mu       sync.Mutex
	loaded   bool
	running  bool
	released bool                // a stub a live run keeps of a closed version, for Stats
	last     atomic.Pointer[run] // the current or last run: Stats, Ready, Progress
}

// Progress reports how many bytes of the input files the current or last
// run has read (compressed bytes for .gz and .zst), of how many; total is 0
// when the input is not files.
func (p *Pipeline) Progress() (read, total int64) {
	if r := p.last.Load(); r != nil && r.progress != nil {
		return r.progress.Progress()
	}
	return 0, 0
}

// OutputBytes returns the bytes the current (or last) run wrote to its
// output, counted as they leave pipe's buffer.
func (p *Pipeline) OutputBytes() int64 {
	if r := p.last.Load(); r != nil {
		return r.outputWritten.Load()
	}
	return 0
}

// Build validates spec and builds every stage (no I/O). Errors are
// *ConfigError values naming the file, line and column.
func Build(spec *Spec, opts ...Option) (*Pipeline, error) {
	o := buildOptions(opts)
	if err := spec.validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{spec: spec, opts: o}
	// The codec of the records the stages see (NDJSON under csv, logfmt).
	codec := stageCodec(firstNonEmpty(spec.Input.Codec, CodecLines))
	var errs errList // every stage's errors, not only the first's
	for _, s := range spec.allStages() {
		if err := resolvePlugin(spec, s, o); err != nil {
			if !errs.add(err) || AllConfigErrors(err) == nil {
				return nil, err
			}
			continue
		}
		kind := s.Type
		timeout := resolveStage(spec, s, codec).Timeout // what the kind may want to know
		events := &StageEvents{stage: s.Name, kind: kind, hook: o.events}
		var st Stage
		switch {
		case s.isSwitch():
			kind = "switch"
			events.kind = kind
			var err error
			if st, err = buildSwitch(s, o, codec, timeout); err != nil {
				if AllConfigErrors(err) == nil {
					return nil, err
				}
				errs.add(err)
				continue
			}
		case s.isFanout():
			kind = "fanout"
			events.kind = kind
			st = fanoutStage{}
		case s.New != nil:
			if kind == "" {
				kind = "go"
			}
			events.kind = kind
			st = goStage{s.New}
		case kind == "":
			errs.add(s.Errorf("", "stage %s has no type (want one of: %s)", quote(s.Name), kindList(o.reg)))
			continue
		default:
			build, ok := o.reg.Kind(kind)
			if !ok {
				errs.add(s.Errorf("type", "unknown stage type %q (want one of: %s)", kind, kindList(o.reg)))
				continue
			}
			env := &BuildEnv{Registry: o.reg, Codec: codec, Timeout: timeout, Logger: o.log.With("stage", s.Name, "kind", kind), Events: events}
			var err error
			st, err = build(s, env)
			if err != nil {
				if AllConfigErrors(err) == nil {
					return nil, err
				}
				errs.add(err)
				continue
			}
			if keys := s.Extra.Keys(); len(keys) > 0 && !s.Extra.decoded() {
				errs.add(s.Extra.Errorf(keys[0], "%s", suggest.UnknownField(keys[0], stageFields())+" (for a "+kind+" stage)"))
				continue
			}
			if s.Isolation == IsolationProcess {
				if st, err = isolate(s, env, st); err != nil {
					errs.add(err)
					continue
				}
			}
		}
		p.stages = append(p.stages, &stageExec{spec: s, events: events, stage: st, level: len(p.stages) + 1,
			log: o.log.With("stage", s.Name, "kind", kind)})
	}
	// Every setting, resolved once: the stages and the runner read it here.
	p.plan = resolvePlan(spec)
	for i, s := range p.stages {
		s.plan = p.plan.Stages[i]
	}
	if spec.hasRoutes() && errs.err() == nil {
		p.graph = p.buildGraph()
	}
	if err := checkDeadLetter(spec, p.plan); err != nil {
		return nil, err
	}
	if err := checkPathsByName(spec, p.plan); err != nil {
		return nil, err
	}
	if err := p.buildConnectors(); err != nil && !errs.add(err) {
		return nil, err
	}
	if err := p.buildNamedOutputs(); err != nil && !errs.add(err) {
		return nil, err
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkDeadLetter: a policy of dead_letter needs a dead_letter: file.
func checkDeadLetter(spec *Spec, pl Plan) error {
	if pl.DeadLetter != "" {
		return nil
	}
	need := pl.Input.OnError == OnErrorDeadLetter || pl.Output.OnError == OnErrorDeadLetter || spec.Output.OnError == OnErrorDeadLetter
	for _, s := range pl.Stages {
		need = need || s.OnError == OnErrorDeadLetter
	}
	for _, o := range pl.Outputs {
		need = need || o.Policy == PolicyDeadLetter
	}
	if need {
		return errAtField(spec.src, spec.File, "stages", "on_error: dead_letter needs a dead_letter: {path: FILE} in the pipeline")
	}
	return nil
}

// stageFields are the fields every stage has.
func stageFields() []string {
	return []string{"name", "type", "use", "path", "code", "config", "timeout", "on_error", "workers", "max_record_bytes", "schema", "isolation"}
}

// resolvePlugin turns use: NAME@CONSTRAINT (or a use: that names no
// registered native transformer) into the plugin's kind and entry file.
func resolvePlugin(spec *Spec, s *StageSpec, o options) error {
	if s.Use == "" || s.New != nil {
		return nil
	}
	name, constraint, versioned := strings.Cut(s.Use, "@")
	if !versioned && (s.Type == "" || s.Type == nativeKind.Name) {
		if _, ok := o.reg.LookupNative(name); ok {
			if s.Type == "" {
				s.Type = nativeKind.Name
			}
			return nil
		}
	}
	if o.resolver == nil {
		if versioned {
			return s.Errorf("use", "use: %s names a plugin version, but no plugin directories are configured (plugins: {dirs: [...]}, --plugin-dir or PIPE_PLUGIN_PATH)", s.Use)
		}
		return nil // the native kind reports the unknown name
	}
	p, ok, err := o.resolver.Resolve(spec, name, constraint)
	if err != nil {
		return s.Errorf("use", "%v", err)
	}
	if !ok {
		if versioned || (s.Type != "" && s.Type != nativeKind.Name) {
			return s.Errorf("use", "no plugin named %q in the plugin directories", name)
		}
		return nil
	}
	if s.Type != "" && s.Type != p.Kind {
		return s.Errorf("type", "plugin %s %s is a %s plugin, but the stage says type: %s", p.Name, p.Version, p.Kind, s.Type)
	}
	if s.Path != "" || s.Code != "" {
		return s.Errorf("use", "a stage takes use: (a plugin) or path:/code:, not both")
	}
	s.Type, s.Path, s.Use = p.Kind, p.Entry, ""
	s.plugin, s.pluginSum = p.Name+"@"+p.Version, p.SHA256
	if p.ConfigSchema != nil {
		if err := checkConfigSchema(s, p); err != nil {
			return err
		}
	}
	return nil
}

func kindList(r *Registry) string {
	s := ""
	for i, k := range r.Kinds() {
		if i > 0 {
			s += ", "
		}
		s += k
	}
	return s
}

// Spec returns the pipeline's spec.
func (p *Pipeline) Spec() *Spec { return p.spec }

// Load loads and compiles every stage once (scripts, modules, plugins)
// without running anything. It is what `pipe lint` checks; Run calls it if
// it has not been called.
func (p *Pipeline) Load(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loadLocked(ctx)
}

func (p *Pipeline) loadLocked(ctx context.Context) error {
	if p.loaded {
		return nil
	}
	var errs errList // the config errors of every stage, not only the first's
	for _, s := range p.stages {
		if !s.spec.Schema.IsZero() && s.schema == nil {
			sch, err := compileSchema(s.spec)
			if err != nil {
				if AllConfigErrors(err) == nil {
					return err
				}
				errs.add(err)
				continue
			}
			s.schema = sch
		}
		if l, ok := s.stage.(Loader); ok {
			if err := l.Load(ctx); err != nil {
				if AllConfigErrors(err) != nil {
					errs.add(err)
					continue
				}
				return &StageError{Stage: s.plan.Name, Kind: s.plan.Kind, Op: "load", Err: err}
			}
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	p.loaded = true
	return nil
}

// Close releases what the stages loaded (stages implementing io.Closer).
func (p *Pipeline) Close() error {
	var errs []error
	for _, s := range p.stages {
		if c, ok := s.stage.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, &StageError{Stage: s.plan.Name, Kind: s.plan.Kind, Op: "close", Err: err})
			}
		}
	}
	return errors.Join(errs...)
}
