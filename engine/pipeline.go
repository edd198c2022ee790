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
)

// Option configures Load and Build.
type Option func(*options)

type options struct {
	reg      *Registry
	log      *slog.Logger
	lookup   LookupEnv
	resolver Resolver
	events   EventHook
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

// Pipeline is a built pipeline: validated, with every stage built. Build does
// no I/O; scripts, modules and plugins are loaded by Load (or by the first
// Run). A Pipeline can run several times, one run at a time; Close releases
// what its stages loaded.
type Pipeline struct {
	spec   *Spec
	opts   options
	stages []*stageExec

	mu      sync.Mutex
	loaded  bool
	running bool
	stats   []*counters
	inStats *counters
	ready   atomic.Bool

	inputRead, inputSize atomic.Int64

	current  *Pipeline   // RunLive: the version whose stages run now
	versions []*Pipeline // RunLive: every version that ran, in order
}

// Progress reports how many bytes of the input files the current or last
// run has read (compressed bytes for .gz and .zst), of how many; total is 0
// when the input is not files.
func (p *Pipeline) Progress() (read, total int64) {
	return p.inputRead.Load(), p.inputSize.Load()
}

// Build validates spec and builds every stage (no I/O). Errors are
// *ConfigError values naming the file, line and column.
func Build(spec *Spec, opts ...Option) (*Pipeline, error) {
	o := buildOptions(opts)
	if err := spec.validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{spec: spec, opts: o, inStats: &counters{}}
	codec := firstNonEmpty(spec.Input.Codec, CodecLines)
	var errs errList // every stage's errors, not only the first's
	for i := range spec.Stages {
		s := &spec.Stages[i]
		if err := resolvePlugin(spec, s, o); err != nil {
			if !errs.add(err) || AllConfigErrors(err) == nil {
				return nil, err
			}
			continue
		}
		timeout, onErr, workers, maxBytes := s.effective(spec.Defaults)
		kind := s.Type
		events := &StageEvents{stage: s.Name, kind: kind, hook: o.events}
		var st Stage
		switch {
		case s.New != nil:
			if kind == "" {
				kind = "go"
			}
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
				errs.add(s.Extra.Errorf(keys[0], "%s", unknownField(keys[0], stageFields())+" (for a "+kind+" stage)"))
				continue
			}
		}
		p.stages = append(p.stages, &stageExec{
			spec: s, events: events, name: s.Name, kind: kind, stage: st, timeout: timeout, onError: onErr,
			workers: workers, maxBytes: int(maxBytes),
			log: o.log.With("stage", s.Name, "kind", kind),
		})
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// stageFields are the fields every stage has.
func stageFields() []string {
	return []string{"name", "type", "use", "path", "code", "config", "timeout", "on_error", "workers", "max_record_bytes", "schema"}
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
				return &StageError{Stage: s.name, Kind: s.kind, Op: "load", Err: err}
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
				errs = append(errs, &StageError{Stage: s.name, Kind: s.kind, Op: "close", Err: err})
			}
		}
	}
	return errors.Join(errs...)
}

// Run runs the pipeline with its configured input and output: type stdin
// reads stdin, type stdout writes stdout, type file opens the spec's files.
//
// Cancelling ctx stops reading input; the records already read are still
// processed, stages are flushed and the output is written before Run returns
// ctx's error. Run returns a *StageError when a stage fails under on_error:
// fail, a *ConfigError when an input or output cannot be opened.
func (p *Pipeline) Run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in, err := p.openInput(stdin)
	if err != nil {
		return err
	}
	out, closeOut, err := p.openOutput(stdout)
	if err != nil {
		return err
	}
	err = p.run(ctx, in, p.newWriterSink(out))
	if cerr := closeOut(); cerr != nil && err == nil {
		err = &StageError{Stage: "output", Op: "write", Err: cerr}
	}
	return err
}

// RunReader runs the pipeline over r and w with the configured codecs,
// whatever the configured input and output types.
func (p *Pipeline) RunReader(ctx context.Context, r io.Reader, w io.Writer) error {
	return p.run(ctx, &readerSource{readers: []namedReader{{name: "", open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }}}},
		p.newWriterSink(w))
}

// Source yields input records for Stream; it returns io.EOF at the end.
type Source func(ctx context.Context) (*Record, error)

// Sink receives output records from Stream, in order. An error stops the run.
type Sink func(*Record) error

// Stream runs the pipeline from src to sink without codecs: records go in
// and come out as they are. Records without a number are numbered in order.
func (p *Pipeline) Stream(ctx context.Context, src Source, sink Sink) error {
	return p.run(ctx, &funcSource{next: src}, &funcSink{fn: sink})
}

// Process runs the pipeline over recs and returns the output records.
func (p *Pipeline) Process(ctx context.Context, recs ...*Record) ([]*Record, error) {
	i := 0
	var out []*Record
	err := p.Stream(ctx, func(context.Context) (*Record, error) {
		if i == len(recs) {
			return nil, io.EOF
		}
		i++
		return recs[i-1], nil
	}, func(r *Record) error {
		c := r.Clone()
		out = append(out, c)
		return nil
	})
	return out, err
}

func (p *Pipeline) outCodec() string {
	return firstNonEmpty(p.spec.Output.Codec, p.spec.Input.Codec, CodecLines)
}

func (p *Pipeline) validateOutput() bool {
	return p.outCodec() == CodecNDJSON && (len(p.stages) > 0 || firstNonEmpty(p.spec.Input.Codec, CodecLines) != CodecNDJSON)
}

// StageStats are the counts of one stage (or of the input or output).
// For every stage: In = Passed + Dropped + Errors.
type StageStats struct {
	Name         string
	Kind         string
	In           int64  // records that entered
	InBytes      int64  // bytes of the records that entered (stages only)
	Passed       int64  // records that produced at least one output
	Out          int64  // records emitted (splits count each)
	Dropped      int64  // records the stage dropped (emitted nothing)
	Errors       int64  // records that failed (timeouts and too large included)
	DeadLettered int64  // failed records written to the dead-letter file
	Timeouts     int64  // failed records that timed out
	Busy         int64  // nanoseconds spent in the stage's transformers
	Restarts     int64  // restarts of the stage's runtime (rpc plugins), over the pipeline's life
	Plugin       string // NAME@VERSION when the stage runs a plugin from a plugin directory
	// BatchLatency counts batches by the time the stage took for them:
	// BatchLatency[i] batches took at most LatencyBuckets[i] (and more than
	// the bound before); the last element counts the slower ones. Nil when
	// no batch went through.
	BatchLatency []int64
}

// add adds o's counts to st's.
func (st *StageStats) add(o StageStats) {
	st.In += o.In
	st.InBytes += o.InBytes
	st.Passed += o.Passed
	st.Out += o.Out
	st.Dropped += o.Dropped
	st.Errors += o.Errors
	st.DeadLettered += o.DeadLettered
	st.Timeouts += o.Timeouts
	st.Busy += o.Busy
	if o.BatchLatency != nil && st.BatchLatency == nil {
		st.BatchLatency = make([]int64, len(o.BatchLatency))
	}
	for i, n := range o.BatchLatency {
		st.BatchLatency[i] += n
	}
}

// Ready reports whether a run is under way with every stage instance open
// (what /readyz serves).
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// Stats returns the counts of the current or last run: the input first, then
// every stage in order, then the output. After a live run switched versions
// (RunLive), the stages are those of the version active last, each with the
// counts of every version's stage of the same name added up, so that they
// cover the whole run.
func (p *Pipeline) Stats() []StageStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []StageStats
	in := p.inStats.snapshot("input", "")
	out = append(out, in)
	stages, stats := p.stages, p.stats
	type version struct {
		stages []*stageExec
		stats  []*counters
	}
	var earlier []version
	if c := p.current; c != nil && c != p { // a live run switched versions
		for _, v := range p.versions {
			if v == c {
				continue
			}
			if v != p {
				v.mu.Lock()
			}
			earlier = append(earlier, version{v.stages, v.stats})
			if v != p {
				v.mu.Unlock()
			}
		}
		c.mu.Lock()
		stages, stats = c.stages, c.stats
		c.mu.Unlock()
	}
	for i, s := range stages {
		st := StageStats{Name: s.name, Kind: s.kind}
		if i < len(stats) {
			st = stats[i].snapshot(s.name, s.kind)
		}
		st.Restarts = s.events.restarts.Load()
		st.Plugin = s.spec.Plugin()
		for _, v := range earlier {
			for j, e := range v.stages {
				if e.name == s.name && j < len(v.stats) {
					st.add(v.stats[j].snapshot(e.name, e.kind))
					st.Restarts += e.events.restarts.Load()
				}
			}
		}
		out = append(out, st)
	}
	if len(p.stats) > len(p.stages) {
		out = append(out, p.stats[len(p.stages)].snapshot("output", ""))
	}
	return out
}

func (p *Pipeline) newWriterSink(w io.Writer) *writerSink {
	return &writerSink{w: w, codec: p.outCodec(), validate: p.validateOutput(),
		policy: firstNonEmpty(p.spec.Defaults.OnError, OnErrorFail)}
}
