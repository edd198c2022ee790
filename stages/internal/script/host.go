package script

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// LoadTimeout bounds a script's top-level code and init(config), which run
// at lint, at start and whenever a VM is replaced: an endless loop there is
// an error, not a hang.
var LoadTimeout = 10 * time.Second

// Language is the runtime-specific part of one script stage (lua, js),
// made by the kind for each stage. Stage and Instance do the rest, the same
// for every language: reading (and pinning) the source once, compiling it
// once, checking its top level at Load, one VM per worker, init(config),
// emit, flush, interrupting a call on timeout and replacing the VM after
// one.
type Language interface {
	// Compile compiles src.Code once per stage. body reports that the
	// code defines no transform and was compiled as the body of one
	// (one-liners). Syntax errors are *engine.ConfigError values at the
	// script's position.
	Compile(src *Source) (body bool, err error)
	// NewVM makes a sandboxed VM holding the compiled script, not run
	// yet. in is the instance it serves (its emit goes to in.Emit), nil
	// for the VM with which Load checks the script (emit then does
	// nothing).
	NewVM(in *Instance) VM
	// Message words an error of the script: its first line (position and
	// message), without a traceback.
	Message(err error) string
	// Broken reports whether err leaves a VM unusable (a stack overflow):
	// the host replaces it before the next call.
	Broken(err error) bool
}

// JSONVouching is an optional interface of a Language whose VMs, under
// codec ndjson, encode every record they output (returned, emitted, at
// flush) as one JSON value on one line (codec.ValidJSON's language, no
// newline byte) whenever the records they were handed were JSON: encoded
// from the script's values, the input's bytes with edits spliced in, or a
// string the VM checked (and compacted when it spans lines). The instance
// then vouches for its output (engine.JSONPreserved), and the ndjson
// output does not check it again.
type JSONVouching interface {
	VouchesJSON() bool
}

// VM is one runtime instance of a stage's script. The host never calls a
// VM concurrently, and calls Bind before and Unbind after everything that
// runs script code.
type VM interface {
	// Bind lets ctx interrupt the script until Unbind.
	Bind(ctx context.Context)
	// Unbind ends Bind; it reports whether ctx interrupted the script.
	Unbind(ctx context.Context) (interrupted bool)
	// Run runs the script's top level (for the body of transform: makes
	// the function) and finds transform, flush and init.
	Run() error
	// Defines reports whether the script has transform and flush.
	Defines() (transform, flush bool)
	// Init calls init(config) when the script defines it.
	Init(config any) error
	// SetRecord makes rec and meta of r for the next Call; r is nil
	// before flush (no record, an empty meta). An error fails the record
	// (a record that is not JSON under ndjson).
	SetRecord(r *engine.Record) error
	// Call calls transform(rec, meta), or flush() when flush is true.
	Call(flush bool) error
	// Result encodes what transform returned: keep is false for
	// nil/null/undefined (the record is dropped); meta is the metadata
	// as the script left it.
	Result() (data []byte, meta map[string]string, keep bool, err error)
	// Close releases the VM.
	Close()
}

// Stage is a built script stage: the source, compiled once, and what its
// instances share. It implements engine.Stage and engine.Loader.
type Stage struct {
	Spec    *engine.StageSpec
	Kind    string // lua, js
	Src     Source
	JSON    bool // records are JSON values (codec ndjson)
	Log     *slog.Logger
	Events  *engine.StageEvents
	Config  any     // the stage's config: for init
	Modules Modules // the modules: directories of require
	// MemoryLimit bounds how much one call may grow the heap (see
	// memGuard); 0 is none. NewStage sets DefaultMemoryLimit.
	MemoryLimit int64

	lang   Language
	loaded bool
}

// NewStage builds a script stage of kind from spec (no I/O): the source
// (code: or path:, with ext), the config and the modules: directories.
// lang makes the stage's Language.
func NewStage(spec *engine.StageSpec, env *engine.BuildEnv, kind, ext string, modules []string, lang func(*Stage) Language) (*Stage, error) {
	src, err := FromSpec(spec, kind, ext)
	if err != nil {
		return nil, err
	}
	cfg, err := spec.Config.Value()
	if err != nil {
		return nil, err
	}
	s := &Stage{Spec: spec, Kind: kind, Src: src, JSON: env.Codec == engine.CodecNDJSON, Log: env.Logger,
		Events: env.Events, Config: cfg, MemoryLimit: DefaultMemoryLimit}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	for _, m := range modules {
		s.Modules.Dirs = append(s.Modules.Dirs, spec.Resolve(m))
	}
	s.lang = lang(s)
	return s, nil
}

// Load reads the script once (a pinned plugin's bytes are checked, see
// Source.Read), compiles it, and runs its top level once in a throwaway
// VM, so that errors there show at lint and start.
func (s *Stage) Load(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	if err := s.Src.Read(s.Spec, s.Events, s.Kind); err != nil {
		return err
	}
	body, err := s.lang.Compile(&s.Src)
	if err != nil {
		return err
	}
	if !body {
		vm := s.lang.NewVM(nil)
		defer vm.Close()
		ctx, cancel := context.WithTimeout(ctx, LoadTimeout)
		defer cancel()
		vm.Bind(ctx)
		err := vm.Run()
		if interrupted := vm.Unbind(ctx); err != nil {
			return s.Spec.Errorf(s.Src.Field(), "%s script failed when loaded: %s", s.Kind, s.loadErr(err, interrupted))
		}
		if t, _ := vm.Defines(); !t {
			return s.Spec.Errorf(s.Src.Field(), "%s: transform is not a function", s.Src.Name)
		}
	}
	s.loaded = true
	return nil
}

// loadErr words an error of the top-level code or init.
func (s *Stage) loadErr(err error, interrupted bool) string {
	if interrupted {
		return fmt.Sprintf("did not finish within %v (an endless loop?)", LoadTimeout)
	}
	return s.lang.Message(err)
}

// New makes one instance: its own VM with the script run and init(config)
// called.
func (s *Stage) New(ctx context.Context) (engine.Transformer, error) {
	if !s.loaded {
		return nil, fmt.Errorf("%s stage used before Load", s.Kind)
	}
	in := &Instance{st: s}
	if err := in.reset(ctx); err != nil {
		return nil, err
	}
	return in, nil
}

// Instance is one worker's VM. It implements engine.Transformer,
// engine.Flusher, stage.Resetter and engine.Closer. A VM that an interrupt
// or a panic left unusable is replaced by Reset (the engine calls it after
// a timeout) or, at the latest, before the next call.
type Instance struct {
	st               *Stage
	vm               VM
	transform, flush bool
	cur              *engine.Record // the record of the current call
	emitted          []emitted      // what the current call emitted
	broken           bool           // interrupted or panicked: replace the VM before the next call
	mem              memGuard
	fields           Fields // repeated keys in JSON records; the current one's fields
	// The input records a TransformBatch call changed (result) and what
	// they held: a call that fails as a whole puts them back, since the
	// engine then runs the same records again one by one.
	changed []changed
	// arena is the batch's output arena while the engine lends it
	// (engine.OutputArena, see Output), else nil; written counts what
	// the batch's records took in it, lastOut what the last batch's did.
	// batch is the current TransformBatch call's records (their size is
	// the first block's, before any batch wrote).
	arena            *[]byte
	written, lastOut int
	batch            []*engine.Record
}

// emitted is a record the script emitted: its bytes and metadata (the
// record is made when the call is over: see result).
type emitted struct {
	data []byte
	meta map[string]string
}

// changed is an input record before result changed it.
type changed struct {
	r    *engine.Record
	data []byte
	meta map[string]string
}

// Fields returns the index of the fields of the current record (a JSON
// object), for a lazy view of it (Lazy.Fields). It is valid for the record
// it was made of only; Lazy checks that.
func (in *Instance) Fields() *Fields { return &in.fields }

// reset makes a fresh VM (at start, and after an interrupted call left the
// old one unusable); the script's top level and init(config) run under ctx
// and LoadTimeout.
func (in *Instance) reset(ctx context.Context) error {
	if in.vm != nil {
		in.vm.Close()
	}
	s := in.st
	vm := s.lang.NewVM(in)
	in.vm, in.broken = vm, true // until its top level and init succeeded
	ctx, cancel := context.WithTimeout(ctx, LoadTimeout)
	defer cancel()
	vm.Bind(ctx)
	if err := vm.Run(); err != nil {
		return fmt.Errorf("loading %s: %s", s.Src.Name, s.loadErr(err, vm.Unbind(ctx)))
	}
	in.transform, in.flush = vm.Defines()
	if err := vm.Init(s.Config); err != nil {
		return fmt.Errorf("init: %s", s.loadErr(err, vm.Unbind(ctx)))
	}
	vm.Unbind(ctx)
	in.broken = false
	return nil
}

// ready replaces a broken VM. Its top level and init are not the record's,
// so not bound by the record's timeout.
func (in *Instance) ready(ctx context.Context) error {
	if !in.broken {
		return nil
	}
	if err := in.reset(context.WithoutCancel(ctx)); err != nil {
		return engine.Fatal(err)
	}
	return nil
}

// call converts r (SetRecord; nil for flush) and runs transform or flush
// under ctx, so that the record's timeout bounds its conversion too, and
// recovers from anything the runtime throws; after an interrupt or a panic
// the VM is marked broken.
func (in *Instance) call(ctx context.Context, r *engine.Record, flush bool) (err error) {
	ctx, unbind := in.bind(ctx)
	defer func() {
		if uerr := unbind(); uerr != nil {
			err = uerr
		}
	}()
	return in.run(ctx, r, flush)
}

// bind lets ctx interrupt the VM (and, with a memory_limit, guards the
// heap) until the returned unbind, which marks the VM broken when ctx
// interrupted it and returns ErrMemoryLimit when the guard stopped it. One
// bind covers a single call or a whole batch of them (TransformBatch).
func (in *Instance) bind(ctx context.Context) (context.Context, func() error) {
	vm := in.vm
	if limit := in.st.MemoryLimit; limit > 0 {
		in.mem.limit = limit
		ctx = in.mem.begin(ctx)
	}
	vm.Bind(ctx)
	return ctx, func() error {
		if vm.Unbind(ctx) {
			in.broken = true // interrupted mid-call: do not trust this VM
		}
		if in.st.MemoryLimit > 0 && in.mem.end() {
			// The VM is replaced (and its garbage freed) before the next call.
			in.broken = true
			return fmt.Errorf("%w: the call grew the heap by more than %d MiB (the stage's memory_limit)", ErrMemoryLimit, in.st.MemoryLimit>>20)
		}
		return nil
	}
}

// run converts r and calls transform (or flush) in a bound VM, recovering
// from a panic of the runtime (the VM is then broken).
func (in *Instance) run(ctx context.Context, r *engine.Record, flush bool) (err error) {
	vm := in.vm
	defer func() {
		if r := recover(); r != nil {
			in.broken = true
			err = fmt.Errorf("%s: %v", in.st.Kind, r)
		}
	}()
	if err := vm.SetRecord(r); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if err := vm.Call(flush); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if in.st.lang.Broken(err) {
			in.broken = true
		}
		return errors.New(in.st.lang.Message(err))
	}
	return nil
}

// Reset implements stage.Resetter: after a call its timeout interrupted, a
// fresh VM (top level and init run again) replaces the one the interrupt
// left behind, before the next record, so that the next record's timeout
// does not pay for it. State the script kept in the old VM is lost.
func (in *Instance) Reset(ctx context.Context) error { return in.reset(ctx) }

// Emit adds a record the script emitted during the current call: derived
// from the call's input record, with data and meta.
func (in *Instance) Emit(data []byte, meta map[string]string) {
	in.emitted = append(in.emitted, emitted{data, meta})
}

// derive makes the record of e: derived from the call's input record (its
// number), with e's bytes and metadata.
func (in *Instance) derive(e emitted) *engine.Record {
	cur := in.cur
	m := cur.Meta
	cur.Meta = nil // Derive would copy what e replaces
	r := cur.Derive(e.data)
	cur.Meta = m
	r.Meta = e.meta
	return r
}

// UseArena implements engine.OutputArena: while the engine lends the
// batch's output arena, Output writes records' bytes there.
func (in *Instance) UseArena(a *[]byte) {
	if a == nil && in.arena != nil && in.written > 0 {
		in.lastOut = in.written
	}
	in.arena, in.written = a, 0
}

// Output returns a copy of s as an output record's bytes. While the engine
// lends the batch's output arena (UseArena), the copy is cut from it,
// followed by a newline there (so the output writes the batch's records as
// one run), with its capacity cut to its length: no allocation a record,
// and the bytes are reused once the batch is written, as its input's are
// (the engine keeps output arenas apart from pooled batches: see
// engine.OutputArena). Otherwise (flush, a VM outside a batch) it is a new
// slice. The bytes belong to the record: the VM keeps no reference to them.
func (in *Instance) Output(s string) []byte {
	if in == nil || in.arena == nil || len(s) == 0 {
		return []byte(s)
	}
	a, n := in.arena, len(s)+1
	if cap(*a)-len(*a) < n {
		// A new block (the records in the full one stay where they
		// are): as large as what the last batch wrote, with a little
		// room, or before any batch wrote, the batch's input; at least
		// twice the full one.
		size := in.lastOut + in.lastOut/16 + minArenaBlock
		if in.lastOut == 0 {
			for _, r := range in.batch {
				size += len(r.Data) + 1
			}
		}
		size = min(max(size, 2*cap(*a), minArenaBlock), maxArenaBlock)
		*a = make([]byte, 0, max(size, n))
	}
	start := len(*a)
	*a = append(append(*a, s...), '\n')
	in.written += n
	end := start + len(s)
	return (*a)[start:end:end]
}

// minArenaBlock and maxArenaBlock bound the size of a new block of the
// output arena (Output).
const (
	minArenaBlock = 4 << 10
	maxArenaBlock = 1 << 20
)

// Transform implements engine.Transformer: transform(rec, meta); records
// it emitted come before the one it returned.
func (in *Instance) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if !in.transform {
		return engine.Fatal(fmt.Errorf("%s defines no transform function", in.st.Src.Name))
	}
	if err := in.ready(ctx); err != nil {
		return err
	}
	if in.st.JSON { // the script may read any field: see package jsonkey
		if err := in.fields.Check(r.Data); err != nil {
			return err
		}
	}
	in.cur, in.emitted = r, in.emitted[:0]
	if err := in.call(ctx, r, false); err != nil {
		return err
	}
	for _, e := range in.emitted {
		emit(in.derive(e))
	}
	data, meta, keep, err := in.vm.Result()
	if err != nil || !keep {
		return err
	}
	r.Data, r.Meta = data, meta
	emit(r)
	return nil
}

// TransformBatch implements engine.BatchTransformer: the records of a batch
// go through one binding of the VM to ctx (one interrupt hook, one memory
// guard) instead of one per record; each record is still converted, called
// and encoded on its own, and fails on its own (out.Fail) when its script
// throws. A record that leaves the VM broken (a panic, a stack overflow,
// the memory_limit) fails, and a fresh VM serves the rest of the batch.
// When ctx interrupts the batch (the batch's deadline), the call fails as
// a whole and the engine re-runs its records one by one, each under its
// own timeout, so that only the culprit takes the stage's on_error policy.
func (in *Instance) TransformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult) (err error) {
	if !in.transform {
		return engine.Fatal(fmt.Errorf("%s defines no transform function", in.st.Src.Name))
	}
	if err := in.ready(ctx); err != nil {
		return err
	}
	in.batch = recs
	bctx, unbind := in.bind(ctx)
	in.changed = in.changed[:0]
	defer func() {
		if unbind != nil {
			if uerr := unbind(); uerr != nil {
				err = uerr
			}
		}
		if err != nil { // the engine runs these records again
			for _, c := range in.changed {
				c.r.Data, c.r.Meta = c.data, c.meta
			}
		}
		clear(in.changed)
		in.batch = nil
	}()
	for i, r := range recs {
		if in.st.JSON { // the script may read any field: see package jsonkey
			if kerr := in.fields.Check(r.Data); kerr != nil {
				out.Fail(i, kerr)
				continue
			}
		}
		in.cur, in.emitted = r, in.emitted[:0]
		rerr := in.run(bctx, r, false)
		if rerr == nil {
			rerr = in.result(i, r, out)
		}
		if rerr == nil {
			continue
		}
		clear(in.emitted) // what the failed record emitted is garbage
		memory := in.st.MemoryLimit > 0 && in.mem.hit.Load()
		if bctx.Err() != nil && !memory {
			return rerr // interrupted: the engine finds the culprit
		}
		if memory || (in.broken && i < len(recs)-1) {
			// A fresh VM (and guard) for the rest of the batch; the
			// memory_limit was the record's alone: it fails.
			uerr := unbind()
			unbind = nil
			if memory && uerr != nil {
				rerr = uerr
			}
			if err := in.ready(ctx); err != nil {
				return err
			}
			if ctx.Err() != nil {
				out.Fail(i, rerr)
				return ctx.Err()
			}
			bctx, unbind = in.bind(ctx)
		}
		out.Fail(i, rerr)
	}
	clear(in.emitted)
	in.cur = nil
	return nil
}

// result hands the records that record i's call emitted, then the one it
// returned (r itself, changed), to out.
func (in *Instance) result(i int, r *engine.Record, out *engine.BatchResult) error {
	data, meta, keep, err := in.vm.Result()
	if err != nil {
		return err
	}
	for j, e := range in.emitted {
		if j == 0 && !keep && len(r.Meta) == 0 && len(e.meta) == 0 {
			// r is dropped: it carries the first emitted record (one
			// allocation less). Only without metadata: the engine gives
			// the metadata of r to emitted records that have none.
			in.remember(r)
			r.Data, r.Meta = e.data, e.meta
			out.Emit(i, r)
			continue
		}
		out.Emit(i, in.derive(e))
	}
	clear(in.emitted)
	if keep {
		in.remember(r)
		r.Data, r.Meta = data, meta
		out.Emit(i, r)
	}
	return nil
}

// remember adds r, about to be changed, to in.changed.
func (in *Instance) remember(r *engine.Record) {
	// Fields set in place: appending a changed literal is a typedmemmove,
	// whose bulk write barrier cost W2 js 3% of its samples while the
	// collector runs.
	n := len(in.changed)
	if n < cap(in.changed) {
		in.changed = in.changed[:n+1]
	} else {
		in.changed = append(in.changed, changed{})
	}
	c := &in.changed[n]
	c.r, c.data, c.meta = r, r.Data, r.Meta
}

// JSONOutput implements engine.JSONOutput: JSONPreserved under codec
// ndjson when the language vouches for its VMs' output (JSONVouching).
func (in *Instance) JSONOutput() engine.JSONGuarantee {
	if v, ok := in.st.lang.(JSONVouching); ok && in.st.JSON && v.VouchesJSON() {
		return engine.JSONPreserved
	}
	return engine.JSONUnchecked
}

// Flush implements engine.Flusher: flush() may emit.
func (in *Instance) Flush(ctx context.Context, emit func(*engine.Record)) error {
	if !in.flush {
		return nil
	}
	if err := in.ready(ctx); err != nil {
		return err
	}
	in.cur, in.emitted = engine.NewRecord(nil), in.emitted[:0]
	if err := in.call(ctx, nil, true); err != nil {
		return err
	}
	for _, e := range in.emitted {
		emit(in.derive(e))
	}
	return nil
}

// Close implements engine.Closer.
func (in *Instance) Close() error {
	if in.vm != nil {
		in.vm.Close()
		in.vm = nil
	}
	return nil
}

var (
	_ engine.Stage            = (*Stage)(nil)
	_ engine.Loader           = (*Stage)(nil)
	_ engine.Transformer      = (*Instance)(nil)
	_ engine.BatchTransformer = (*Instance)(nil)
	_ engine.Flusher          = (*Instance)(nil)
	_ engine.Closer           = (*Instance)(nil)
	_ engine.JSONOutput       = (*Instance)(nil)
	_ engine.OutputArena      = (*Instance)(nil)
	_ stage.Resetter          = (*Instance)(nil)
)
