package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/pin"
	"github.com/pipe-dev/pipe/stages/wasm/internal/interrupt"
)

func init() {
	engine.RegisterKindSpec(engine.KindSpec{
		Name:    "wasm",
		Summary: "WebAssembly modules (wazero) following the wasm stage ABI, from any language",
		Doc: "The module gets a whole batch per call and answers one result per record (see stages/wasm/ABI.md; " +
			"Go guests use the SDK in stages/wasm/guest). No WASI filesystem, network or clock unless granted; memory is " +
			"capped by `memory_limit`. The stage's `config:` is handed to `pipe_init` as JSON.",
		Build:   build,
		Options: options{},
		Examples: []component.Example{
			{Title: "a module with a memory cap", YAML: "- {name: redact, type: wasm, path: plugins/redact.wasm, memory_limit: 16MiB}"},
		},
		Flag: &engine.FilterFlag{Value: "PATH", Usage: "filter mode: a WASM module stage",
			Set: func(s *engine.StageSpec, v string) { s.Path = v }},
	})
}

// options are the fields only wasm stages know.
type options struct {
	// MemoryLimit caps the guest's linear memory (rounded down to 64KiB
	// pages); memory.grow beyond it fails.
	MemoryLimit *engine.ByteSize `yaml:"memory_limit" default:"64MiB" doc:"Cap of the guest's linear memory, 64KiB to 4GiB; memory.grow beyond it fails."`
	// Allow grants WASI capabilities the sandbox leaves out: "clock" (the
	// real wall and monotonic clocks and sleep) and "random" (the host's
	// cryptographic random source).
	Allow []string `yaml:"allow" enum:"clock,random" example:"[clock]" doc:"WASI capabilities the sandbox leaves out that this module may use."`
	// StackLimit bounds the guest's call stack: each call running counts
	// an estimate of its frame (32 bytes plus 16 per parameter and
	// local), and a call past the limit fails the record.
	StackLimit *engine.ByteSize `yaml:"stack_limit" default:"1MiB" doc:"Cap of the guest's call stack (an estimate: 32 bytes plus 16 per parameter and local of each call running), 64KiB to 64MiB; a call past it traps, failing the record (deep or endless recursion)."`
}

// DefaultMemoryLimit is the memory_limit of a stage that sets none.
const DefaultMemoryLimit = 64 << 20

// DefaultStackLimit is the stack_limit of a stage that sets none: about
// twice what wazero's compiled frames use (see interrupt.FrameEstimate), so
// about the 512 KiB stack wasmtime gives a guest by default; some 20,000
// calls of a small function. A recursion without end then costs the
// process a few MB (6 MB measured) instead of wazero's ceiling of about
// 80 MB of stack a worker (250-290 MB resident measured, with the copies
// of the stack as it doubles). Go guests go deep only between the Go
// runtime's unwinds of the wasm stack: W1-W3 run with 64KiB.
const DefaultStackLimit = 1 << 20

// minStackLimit and maxStackLimit bound stack_limit. wazero's own ceiling
// (a stack of about 80 MB) is above the largest.
const (
	minStackLimit = 64 << 10
	maxStackLimit = 64 << 20
)

const pageSize = 64 << 10

// grants are the values allow: accepts.
var grants = []string{"clock", "random"}

type stage struct {
	spec   *engine.StageSpec
	path   string
	pages  uint32
	clock  bool
	random bool
	log    *slog.Logger
	events *engine.StageEvents

	// closeOnDone: calls must be interruptible, which is so unless the
	// stage has no timeout (timeout: 0), when nothing needs interrupting
	// but the pipeline's cancellation, which waits for the batch call to
	// return. Load makes them so by rewriting the module (package
	// interrupt: a flag tested at function entries and loop headers) and,
	// when that fails or noRewrite is set, with wazero's slower
	// WithCloseOnContextDone.
	closeOnDone   bool
	timeout       time.Duration // the stage's timeout: it bounds pipe_init too
	noRewrite     bool
	interruptible bool // the module was rewritten: calls arm its flag

	// stackLimit is stack_limit; stackBounded: the module was rewritten
	// with it (see compile).
	stackLimit   uint32
	stackBounded bool

	mu       sync.Mutex
	loaded   bool
	closed   bool
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	hasFlush bool
	config   []byte                // the config: mapping as JSON, for pipe_init
	first    engine.First[*module] // made by Load, for the first worker
	seq      atomic.Int64          // instance names
}

func build(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	var o options
	if err := spec.Extra.Decode(&o); err != nil {
		return nil, err
	}
	if spec.Code != "" {
		return nil, spec.Errorf("code", "wasm stages run a module (path: FILE.wasm), not code:")
	}
	if spec.Use != "" {
		return nil, spec.Errorf("use", "wasm stages run a module (path: FILE.wasm), not use:")
	}
	if spec.Path == "" {
		return nil, spec.Errorf("type", "wasm stage needs path: FILE.wasm (a module following the wasm stage ABI)")
	}
	s := &stage{spec: spec, path: spec.Resolve(spec.Path), log: env.Logger, events: env.Events,
		pages: DefaultMemoryLimit / pageSize, closeOnDone: env.Timeout != 0, timeout: env.Timeout,
		stackLimit: DefaultStackLimit}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MemoryLimit != nil {
		if *o.MemoryLimit < pageSize {
			return nil, spec.Errorf("memory_limit", "memory_limit must be at least 64KiB (one wasm page), got %v", *o.MemoryLimit)
		}
		if *o.MemoryLimit > 4<<30 {
			return nil, spec.Errorf("memory_limit", "memory_limit must be at most 4GiB (32-bit wasm), got %v", *o.MemoryLimit)
		}
		s.pages = uint32(*o.MemoryLimit / pageSize)
	}
	if o.StackLimit != nil {
		if *o.StackLimit < minStackLimit || *o.StackLimit > maxStackLimit {
			return nil, spec.Errorf("stack_limit", "stack_limit must be from 64KiB to 64MiB, got %v", *o.StackLimit)
		}
		s.stackLimit = uint32(*o.StackLimit)
	}
	for _, a := range o.Allow {
		switch a {
		case "clock":
			s.clock = true
		case "random":
			s.random = true
		default:
			return nil, spec.Errorf("allow", "allow: %q is not a grant; the wasm sandbox can grant %s", a, strings.Join(grants, ", "))
		}
	}
	if !spec.Config.IsZero() {
		js, err := spec.Config.JSON()
		if err != nil {
			return nil, spec.Errorf("config", "config cannot be handed to the module as JSON: %v", err)
		}
		s.config = js
	}
	if len(s.config) == 0 || string(s.config) == "null" {
		s.config = []byte("{}")
	}
	return s, nil
}

// compilationCache is shared by every wasm stage of the process: in the user
// cache directory (pipe/wasm) when there is one, so that a restarted pipe
// does not compile a module again, else in memory. The directory is
// pruned to compileCacheLimit first (pruneCache).
var compilationCache = sync.OnceValue(func() wazero.CompilationCache {
	if dir, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(dir, "pipe", "wasm")
		pruneCache(dir, compileCacheLimit, time.Now())
		if c, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
			return c
		}
	}
	return wazero.NewCompilationCache()
})

// wasmMagic opens every binary wasm module: "\0asm" and version 1.
var wasmMagic = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

// Load reads, compiles and checks the module, then makes the first worker's
// instance (which runs pipe_init with the stage's config). Errors that are
// the module's or the config's are *engine.ConfigError.
func (s *stage) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	if s.closed {
		return errors.New("stage is closed")
	}
	bin, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s.spec.Errorf("path", "module %s: no such file", s.path)
	case err != nil:
		return s.spec.Errorf("path", "module %s: %v", s.path, err)
	}
	// The module runs from these bytes, read once: a plugin's are checked
	// against the hash pinned when it was resolved. (The compilation cache
	// is keyed by the SHA-256 of the bytes compiled, so it cannot hand back
	// the code of another module.)
	if err := pin.Check(s.spec, s.events, s.path, bin); err != nil {
		return err
	}
	switch {
	case len(bin) >= 8 && bytes.Equal(bin[:4], wasmMagic[:4]) && !bytes.Equal(bin[4:8], wasmMagic[4:]):
		return s.spec.Errorf("path", "module %s is wasm binary version %x, not a core module of version 1 (a component? build a core module)", s.path, bin[4:8])
	case !bytes.HasPrefix(bin, wasmMagic):
		hint := ""
		if bytes.HasPrefix(bytes.TrimSpace(bin), []byte("(module")) {
			hint = " (this is WAT text: build it with wat2wasm)"
		}
		return s.spec.Errorf("path", "module %s is not a wasm module: it does not start with \\0asm%s", s.path, hint)
	}
	rt, compiled, err := s.compile(ctx, bin)
	ok := false
	defer func() {
		if !ok {
			rt.Close(context.Background())
		}
	}()
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "invalid memory: ")
		if strings.Contains(msg, "over limit of") {
			return s.spec.Errorf("memory_limit", "module %s declares more memory than memory_limit allows: %s", s.path, msg)
		}
		return s.spec.Errorf("path", "module %s does not compile: %v", s.path, err)
	}
	wasi, err := wasi_snapshot_preview1.NewBuilder(rt).Compile(ctx)
	if err != nil {
		return fmt.Errorf("compile wasi: %w", err)
	}
	if err := s.check(compiled, wasi); err != nil {
		return err
	}
	// wazero lowers a declared maximum above the limit to it; ABI.md
	// promises a refusal instead.
	if max, ok := declaredMemoryMax(bin); ok && max > uint64(s.pages) {
		return s.spec.Errorf("memory_limit", "module %s declares more memory than memory_limit allows: a maximum of %d pages (%d MiB) over the limit of %d pages (%d MiB); raise memory_limit or build the module with a lower maximum",
			s.path, max, max*pageSize>>20, s.pages, uint64(s.pages)*pageSize>>20)
	}
	if _, err := rt.InstantiateModule(ctx, wasi, wazero.NewModuleConfig()); err != nil {
		return fmt.Errorf("instantiate wasi: %w", err)
	}
	if _, err := rt.NewHostModuleBuilder(hostModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(s.hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").Export(hostLog).Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate the pipe host module: %w", err)
	}
	s.rt, s.compiled = rt, compiled
	m, err := s.instantiate(ctx)
	if err != nil {
		s.rt, s.compiled = nil, nil
		var ce *engine.ConfigError
		if errors.As(err, &ce) {
			return err
		}
		return s.spec.Errorf("path", "module %s: %v", s.path, err)
	}
	s.first.Keep(m)
	s.loaded, ok = true, true
	bin = nil
	// Loading leaves garbage of several times the module's size (its
	// bytes, their rewrite, wazero's decoding and validation: 15 MB for
	// the 3.6 MB W1 guest), and a collection during the load counts much
	// of it as live: the collector's next goal, which the run's own
	// garbage then fills before the next collection, is set from it (W1,
	// two workers: a goal of 38 MB against 9 MB live). One collection now
	// sets the goal from what stays.
	runtime.GC()
	return nil
}

// sig describes a function signature for messages.
func sig(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, api.ValueTypeName(t))
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// abiExports are the functions of ABI v1 with their signatures.
var abiExports = []struct {
	name            string
	params, results []api.ValueType
	required        bool
}{
	{exportVersion, nil, []api.ValueType{i32}, true},
	{exportAlloc, []api.ValueType{i32}, []api.ValueType{i32}, true},
	{exportTransform, []api.ValueType{i32, i32}, []api.ValueType{i64}, true},
	{exportInit, []api.ValueType{i32, i32}, []api.ValueType{i64}, false},
	{exportFlush, nil, []api.ValueType{i64}, false},
}

// check verifies the module's exports and imports against ABI v1.
func (s *stage) check(m, wasi wazero.CompiledModule) error {
	exports := m.ExportedFunctions()
	var missing, wrong []string
	for _, e := range abiExports {
		d, ok := exports[e.name]
		if !ok {
			if e.required {
				missing = append(missing, e.name)
			}
			continue
		}
		if !slices.Equal(d.ParamTypes(), e.params) || !slices.Equal(d.ResultTypes(), e.results) {
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", e.name, sig(d.ParamTypes(), d.ResultTypes()), sig(e.params, e.results)))
		}
	}
	if _, ok := m.ExportedMemories()[exportMemory]; !ok {
		missing = append(missing, "memory "+exportMemory)
	}
	if len(missing) > 0 {
		hint := " (see the ABI in stages/wasm/ABI.md)"
		if _, ok := exports["_start"]; ok {
			if _, ok := exports["_initialize"]; !ok {
				hint = " (it is a WASI command with _start: Go guests build with -buildmode=c-shared)"
			}
		}
		return s.spec.Errorf("path", "module %s is not a pipe wasm guest: it does not export %s%s", s.path, strings.Join(missing, ", "), hint)
	}
	_, s.hasFlush = exports[exportFlush]
	if len(wrong) > 0 {
		return s.spec.Errorf("path", "module %s exports ABI functions with the wrong signature: %s", s.path, strings.Join(wrong, "; "))
	}
	if _, ok := exports["_start"]; ok {
		if _, ok := exports["_initialize"]; !ok {
			return s.spec.Errorf("path", "module %s is a WASI command (exports _start, not _initialize): build it as a reactor (Go: -buildmode=c-shared)", s.path)
		}
	}
	provided := wasi.ExportedFunctions()
	var unknown []string
	for _, d := range m.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch mod {
		case hostModule:
			if name == hostLog {
				if want := []api.ValueType{i32, i32, i32}; !slices.Equal(d.ParamTypes(), want) || len(d.ResultTypes()) != 0 {
					return s.spec.Errorf("path", "module %s imports pipe.log as %s, want %s", s.path, sig(d.ParamTypes(), d.ResultTypes()), sig(want, nil))
				}
				continue
			}
		case wasiModule:
			if p, ok := provided[name]; ok {
				if !slices.Equal(d.ParamTypes(), p.ParamTypes()) || !slices.Equal(d.ResultTypes(), p.ResultTypes()) {
					return s.spec.Errorf("path", "module %s imports %s.%s as %s, want %s", s.path, mod, name, sig(d.ParamTypes(), d.ResultTypes()), sig(p.ParamTypes(), p.ResultTypes()))
				}
				continue
			}
		}
		unknown = append(unknown, mod+"."+name)
	}
	for _, d := range m.ImportedMemories() {
		mod, name, _ := d.Import()
		unknown = append(unknown, "memory "+mod+"."+name)
	}
	if len(unknown) > 0 {
		return s.spec.Errorf("path", "module %s imports %s, which the host does not provide (it provides pipe.log and wasi_snapshot_preview1)", s.path, strings.Join(unknown, ", "))
	}
	return nil
}

// hostLog is pipe.log(level, ptr, len).
func (s *stage) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	n = min(n, maxLogLine)
	msg, ok := m.Memory().Read(ptr, n)
	if !ok {
		s.log.Warn("guest logged an out-of-bounds message", "ptr", ptr, "len", n)
		return
	}
	lv := slog.LevelInfo
	switch level {
	case 0:
		lv = slog.LevelDebug
	case 2:
		lv = slog.LevelWarn
	case 3:
		lv = slog.LevelError
	}
	s.log.Log(ctx, lv, string(msg), "source", "guest")
}

// fakeNanotime is the monotonic clock of a guest without allow: [clock]:
// deterministic, it advances 1µs per reading. (wazero's own fake clock
// advances 1ms per reading, which makes the Go runtime's garbage collector
// of a Go guest fall behind until the guest runs out of memory.)
func fakeNanotime() sys.Nanotime {
	var t atomic.Int64
	return func() int64 { return t.Add(1000) }
}

// maxLogLine caps one logged message or output line of a guest.
const maxLogLine = 4 << 10

// startTimeout bounds the making of an instance: instantiation,
// _initialize and pipe_init (a guest whose init never returns is stopped).
var startTimeout = 10 * time.Second

// instantiate makes a module instance: _initialize, the ABI version check,
// pipe_init with the stage's config. Config rejections are ConfigErrors.
// It is bounded by startTimeout, not by ctx's deadline (a record's timeout
// must not prevent replacing an instance), but stops when ctx is cancelled.
func (s *stage) instantiate(parent context.Context) (*module, error) {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(parent), startTimeout,
		fmt.Errorf("the module did not start within %v (_initialize and pipe_init)", startTimeout))
	defer cancel()
	stop := context.AfterFunc(parent, func() {
		if !errors.Is(parent.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	defer stop()
	name := fmt.Sprintf("%s#%d", s.spec.Name, s.seq.Add(1))
	stdout := &lineWriter{log: s.log, stream: "stdout", level: slog.LevelInfo}
	stderr := &lineWriter{log: s.log, stream: "stderr", level: slog.LevelWarn}
	cfg := wazero.NewModuleConfig().WithName(name).WithStartFunctions("_initialize").
		WithStdout(stdout).WithStderr(stderr)
	if s.interruptible {
		cfg = cfg.WithStartFunctions() // called below, with the flag armed
	}
	if s.clock {
		cfg = cfg.WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	} else {
		cfg = cfg.WithNanotime(fakeNanotime(), 1)
	}
	if s.random {
		cfg = cfg.WithRandSource(rand.Reader)
	}
	alloc := &memoryAllocator{}
	mod, err := s.rt.InstantiateModule(alloc.with(ctx), s.compiled, cfg)
	if alloc.made != nil {
		alloc.made.leave() // the instantiation's hold
	}
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("instantiate: %w%s", err, stderr.recent())
	}
	m := &module{mod: mod, mem: mod.Memory(), stderr: stderr, stdout: stdout, lm: alloc.made, stackLimit: s.stackLimit,
		alloc: mod.ExportedFunction(exportAlloc), transform: mod.ExportedFunction(exportTransform),
		init: mod.ExportedFunction(exportInit), flush: mod.ExportedFunction(exportFlush)}
	if s.stackBounded {
		m.stack = mod.ExportedGlobal(interrupt.StackExport)
	}
	if s.interruptible {
		if err := m.start(ctx); err != nil {
			m.close()
			return nil, fmt.Errorf("instantiate: %w", err)
		}
	}
	v, err := m.call(ctx, mod.ExportedFunction(exportVersion))
	if err != nil {
		m.close()
		return nil, fmt.Errorf("%s: %w", exportVersion, err)
	}
	if uint32(v) != ABIVersion {
		m.close()
		return nil, s.spec.Errorf("path", "module %s declares ABI version %d (pipe_abi_version), this host implements version %d", s.path, uint32(v), ABIVersion)
	}
	if m.init != nil {
		// pipe_init is a call like any other: the stage's timeout bounds
		// it (ABI.md), within startTimeout.
		ctx := ctx
		if s.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, s.timeout,
				fmt.Errorf("pipe_init did not return within the stage's timeout (%v)", s.timeout))
			defer cancel()
		}
		msg, err := m.initWith(ctx, s.config)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("%s: %w", exportInit, err)
		}
		if msg != "" {
			m.close()
			return nil, s.spec.Errorf("config", "module %s rejected its config: %s", s.path, msg)
		}
	}
	return m, nil
}

// New makes one worker's instance: batch-only (the engine runs a single
// record as a batch of one). Its module is the one Load made, for the
// first worker, or made by Open.
func (s *stage) New(context.Context) (engine.Transformer, error) {
	in, err := s.instance()
	if err != nil {
		return nil, err
	}
	return engine.BatchOnly(in), nil
}

func (s *stage) instance() (*instance, error) {
	s.mu.Lock()
	loaded := s.loaded
	s.mu.Unlock()
	if !loaded {
		return nil, errors.New("wasm stage used before Load")
	}
	in := &instance{st: s}
	in.m, _ = s.first.Take()
	return in, nil
}

// Close closes the runtime: the compiled module and every instance.
func (s *stage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.first.Take() // closed with the runtime
	if s.rt == nil {
		return nil
	}
	err := s.rt.Close(context.Background())
	s.rt, s.compiled = nil, nil
	return err
}

var (
	_ engine.Stage  = (*stage)(nil)
	_ engine.Loader = (*stage)(nil)
	_ io.Closer     = (*stage)(nil)
)
