package native

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"plugin"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// The symbols a Go plugin exports (see README.md, "Go plugins"):
//
//	import "github.com/pipe-dev/pipe/stage"
//
//	// PipeAPIVersion is the host API the plugin was built against.
//	var PipeAPIVersion = stage.APIVersion
//
//	// New makes one instance per worker from the stage's config:.
//	func New(cfg stage.Config) (stage.Transformer, error)
//
// A plugin imports package stage only, not engine: it then shares no module
// but pipe's own with the host (see RATIONALE.md, "The stage package").
const (
	SymbolNew        = "New"
	SymbolAPIVersion = "PipeAPIVersion"
)

func init() { engine.SetPluginLoader(LoadPlugin) }

// loaded is one plugin file as this process loaded it.
type loaded struct {
	sum  [32]byte
	path string
	fn   engine.NativeFunc
	err  error // final: a plugin that plugin.Open refused or that lacks its symbols
}

var cache struct {
	mu     sync.Mutex
	byPath map[string]*loaded
	bySum  map[[32]byte]*loaded
}

// LoadPlugin loads the Go plugin at path and returns its constructor; it
// is the engine's PluginLoader (installed when this package is imported).
//
// Before plugin.Open it checks the file (preflight): an ELF shared object
// built by Go with -buildmode=plugin, by the same Go version, with the same
// -race, -msan, -asan and -trimpath flags, GOOS, GOARCH and GOAMD64 (or the
// like), and the same versions of every module it shares with this pipe.
// Each failure is a *PluginError naming both sides and, where it can, the
// command that rebuilds the plugin.
//
// Then it opens a private copy of exactly the bytes it checked (see
// openPrivate) and checks the symbols: PipeAPIVersion a *string compatible
// with stage.APIVersion, New a func(stage.Config) (stage.Transformer,
// error). The host hands New the stage's engine.Config (which implements
// stage.Config). A plugin written for host API 1 (New taking an
// engine.Config) is refused with what to change.
//
// A file is loaded once per process and shared by all stages and workers
// that name it (by path, or by identical contents under another path). Go
// cannot unload a plugin: if the file changes after it was loaded, the
// error wraps ErrChanged and pipe must be restarted; a failure after
// plugin.Open (a missing symbol, a panicking init) is final for the
// process too. A failed preflight loads nothing and is not remembered.
// The constructor and every instance it returns are guarded: a panic
// becomes an error wrapping ErrPanic.
func LoadPlugin(ctx context.Context, path string) (engine.NativeFunc, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &PluginError{Path: path, Kind: ErrNotPlugin, Msg: "cannot read", Err: err}
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &PluginError{Path: path, Kind: ErrNotPlugin, Msg: "cannot read", Err: err}
	}
	sum := sha256.Sum256(data)

	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.byPath == nil {
		cache.byPath, cache.bySum = map[string]*loaded{}, map[[32]byte]*loaded{}
	}
	if l := cache.byPath[abs]; l != nil {
		if l.sum != sum {
			what := "loaded it"
			if l.err != nil {
				// A plugin that failed inside plugin.Open stays mapped, and
				// its symbols could shadow a new build's: never retry.
				what = "failed to load it"
			}
			return nil, &PluginError{Path: path, Kind: ErrChanged,
				Msg: "the file changed after this pipe " + what + ", and a Go plugin cannot be unloaded or reloaded: restart pipe to use the new file"}
		}
		return l.fn, l.err
	}
	if l := cache.bySum[sum]; l != nil {
		// The same plugin under another name: Go would refuse to load it
		// twice ("plugin already loaded"), so share the first load.
		cache.byPath[abs] = l
		return l.fn, l.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := currentHost()
	bi, err := preflight(path, data, h)
	if err != nil {
		return nil, err // nothing loaded: the file may be fixed and tried again
	}
	l := &loaded{sum: sum, path: path}
	l.fn, l.err = open(path, abs, data, bi.Path, h)
	cache.byPath[abs], cache.bySum[sum] = l, l
	return l.fn, l.err
}

var pkgMismatch = regexp.MustCompile(`different version of package (\S+)`)

// open calls plugin.Open and checks the plugin's symbols.
func open(path, abs string, data []byte, pkg string, h hostInfo) (fn engine.NativeFunc, err error) {
	defer func() {
		if r := recover(); r != nil {
			// An init function of the plugin panicked: the plugin is half
			// initialised and Go would block a second Open of it forever;
			// the cache never opens it again.
			fn, err = nil, &PluginError{Path: path, Kind: ErrBadPlugin, Msg: fmt.Sprintf("an init function panicked: %v", r)}
		}
	}()
	p, err := openPrivate(abs, data)
	if err != nil {
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, `"): `); ok && strings.HasPrefix(msg, "plugin.Open(") {
			msg = after
		}
		pe := &PluginError{Path: path, Kind: ErrBadPlugin, Msg: "cannot be loaded", Err: errors.New(msg)}
		if m := pkgMismatch.FindStringSubmatch(msg); m != nil {
			pe.Kind = ErrMismatch
			pe.Err = nil
			pe.Msg = fmt.Sprintf("built against a different version of package %s than this pipe (Go: %q): the plugin and pipe must be built from the same source of every package they share, with the same -tags and -gcflags", m[1], msg)
			pe.Fix = fixCommand(path, &debug.BuildInfo{Path: pkg}, h, false) + " (from the same checkout or module versions as this pipe)"
		} else if strings.Contains(msg, "plugin already loaded") {
			pe.Msg = fmt.Sprintf("cannot be loaded: another plugin with the same package path (%s) is already loaded in this process; give each plugin its own main package", pkg)
			pe.Err = nil
		}
		return nil, pe
	}
	bad := func(format string, args ...any) error {
		return &PluginError{Path: path, Kind: ErrBadPlugin, Msg: fmt.Sprintf(format, args...)}
	}
	vs, err := p.Lookup(SymbolAPIVersion)
	if err != nil {
		return nil, bad("exports no %s; add: var %s = stage.APIVersion", SymbolAPIVersion, SymbolAPIVersion)
	}
	v, ok := vs.(*string)
	if !ok {
		return nil, bad("%s is a %T, want a string variable (var %s = stage.APIVersion)", SymbolAPIVersion, vs, SymbolAPIVersion)
	}
	if err := compatibleAPI(*v, stage.APIVersion); err != nil {
		return nil, bad("%v", err)
	}
	ns, err := p.Lookup(SymbolNew)
	if err != nil {
		return nil, bad("exports no %s; add: func %s(cfg stage.Config) (stage.Transformer, error)", SymbolNew, SymbolNew)
	}
	var ctor func(stage.Config) (stage.Transformer, error)
	switch n := ns.(type) {
	case func(stage.Config) (stage.Transformer, error):
		ctor = n
	case *func(stage.Config) (stage.Transformer, error):
		ctor = *n
	case func(engine.Config) (stage.Transformer, error), *func(engine.Config) (stage.Transformer, error), *engine.NativeFunc:
		return nil, bad("%s takes an engine.Config (host API 1); %s", SymbolNew, migrateAPI1)
	}
	if ctor == nil {
		return nil, bad("%s is a %T, want func(stage.Config) (stage.Transformer, error)", SymbolNew, ns)
	}
	return guardNew(path, ctor), nil
}

// openPrivate opens a private copy of the plugin, holding exactly the
// bytes the preflight checked, and unlinks it at once (the mapping stays).
// The dynamic loader maps a plugin's file into memory: overwriting a
// loaded plugin in place (cp new.so x.so) would change the code of the
// running process under its feet and crash it; with the copy, the user's
// file can be replaced in any way. If the temporary directory does not
// allow that (mounted noexec), the file itself is opened.
func openPrivate(abs string, data []byte) (*plugin.Plugin, error) {
	dir, err := os.MkdirTemp("", "pipe-plugin-")
	if err != nil {
		return plugin.Open(abs)
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, filepath.Base(abs))
	if err := os.WriteFile(cp, data, 0o500); err != nil {
		return plugin.Open(abs)
	}
	p, err := plugin.Open(cp)
	if err != nil && strings.Contains(err.Error(), "failed to map segment") {
		return plugin.Open(abs)
	}
	return p, err
}

// compatibleAPI reports whether a plugin built against host API version
// plugin runs on a host with API version host: same major, plugin's minor
// not above the host's.
func compatibleAPI(plugin, host string) error {
	pmaj, pmin, ok1 := majorMinor(plugin)
	hmaj, hmin, ok2 := majorMinor(host)
	switch {
	case !ok1:
		return fmt.Errorf("%s %q is not a version like 1.0.0", SymbolAPIVersion, plugin)
	case !ok2:
		return fmt.Errorf("host API version %q is not a version like 1.0.0", host)
	case pmaj == 1 && hmaj == 2:
		return fmt.Errorf("built against host API %s, but this pipe has host API %s; %s", plugin, host, migrateAPI1)
	case pmaj != hmaj || pmin > hmin:
		return fmt.Errorf("built against host API %s, but this pipe has host API %s; rebuild the plugin against this pipe's github.com/pipe-dev/pipe", plugin, host)
	}
	return nil
}

// migrateAPI1 says how to port a plugin written for host API 1.
const migrateAPI1 = "host API 2 moved the plugin contract to package github.com/pipe-dev/pipe/stage: " +
	"import it instead of engine (engine.Record becomes stage.Record, and so on), " +
	"export var PipeAPIVersion = stage.APIVersion and func New(cfg stage.Config) (stage.Transformer, error), " +
	"and rebuild the plugin against this pipe's github.com/pipe-dev/pipe (see CHANGELOG.md)"

func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) != 3 {
		return 0, 0, false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return 0, 0, false
		}
	}
	major, _ = strconv.Atoi(parts[0])
	minor, _ = strconv.Atoi(parts[1])
	return major, minor, true
}

// ErrPanic marks the error of a plugin's constructor or transformer that
// panicked; the panic is recovered and fails only what it was doing.
var ErrPanic = errors.New("plugin panicked")

type panicError struct {
	where string
	val   any
	stack []byte
}

func (e *panicError) Error() string   { return fmt.Sprintf("%s panicked: %v", e.where, e.val) }
func (e *panicError) Is(t error) bool { return t == ErrPanic }

func recovered(where string, r any) error {
	return &panicError{where: where, val: r, stack: debug.Stack()}
}

// guardNew wraps a plugin's constructor so that a panic or a nil
// transformer is an error, and its instances so that their panics are.
func guardNew(path string, ctor func(stage.Config) (stage.Transformer, error)) engine.NativeFunc {
	name := filepath.Base(path)
	return func(cfg engine.Config) (t engine.Transformer, err error) {
		defer func() {
			if r := recover(); r != nil {
				t, err = nil, recovered(name+": "+SymbolNew, r)
			}
		}()
		t, err = ctor(cfg)
		switch {
		case err != nil:
			return nil, err
		case t == nil:
			return nil, fmt.Errorf("%s: %s returned no transformer and no error", name, SymbolNew)
		}
		g := guarded{t: t, name: name}
		if bt, ok := t.(stage.BatchTransformer); ok {
			return guardedBatch{g, bt}, nil
		}
		return g, nil
	}
}

// guarded is a plugin's transformer with its panics recovered. It offers
// Open, Flush, Close and Reset whether or not the plugin's transformer has
// them (they do nothing then).
type guarded struct {
	t    stage.Transformer
	name string
}

func (g guarded) Transform(ctx context.Context, rec *stage.Record, emit func(*stage.Record)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(g.name+": Transform", r)
		}
	}()
	return g.t.Transform(ctx, rec, emit)
}

func (g guarded) Open(ctx context.Context) (err error) {
	o, ok := g.t.(stage.Opener)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = recovered(g.name+": Open", r)
		}
	}()
	return o.Open(ctx)
}

func (g guarded) Flush(ctx context.Context, emit func(*stage.Record)) (err error) {
	f, ok := g.t.(stage.Flusher)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = recovered(g.name+": Flush", r)
		}
	}()
	return f.Flush(ctx, emit)
}

func (g guarded) Close() (err error) {
	c, ok := g.t.(stage.Closer)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = recovered(g.name+": Close", r)
		}
	}()
	return c.Close()
}

func (g guarded) Reset(ctx context.Context) (err error) {
	r, ok := g.t.(stage.Resetter)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = recovered(g.name+": Reset", r)
		}
	}()
	return r.Reset(ctx)
}

type guardedBatch struct {
	guarded
	bt stage.BatchTransformer
}

func (g guardedBatch) TransformBatch(ctx context.Context, recs []*stage.Record, out *stage.BatchResult) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(g.name+": TransformBatch", r)
		}
	}()
	return g.bt.TransformBatch(ctx, recs, out)
}

// Interface guards.
var (
	_ engine.PluginLoader    = LoadPlugin
	_ stage.Transformer      = guarded{}
	_ stage.Opener           = guarded{}
	_ stage.Flusher          = guarded{}
	_ stage.Closer           = guarded{}
	_ stage.Resetter         = guarded{}
	_ stage.BatchTransformer = guardedBatch{}
)
