// Package lua runs Lua stages (gopher-lua, Lua 5.1): type: lua with code:
// or path:, and `pipe run --lua CODE`. See README.md for the script API,
// the sandbox and the limits.
package lua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

func init() {
	engine.RegisterKindSpec(engine.KindSpec{
		Name:    "lua",
		Summary: "Lua 5.1 scripts (gopher-lua), inline (code:) or from a file (path:)",
		Doc: "The script defines `transform(rec, meta)` (or is its body): `rec` is the decoded JSON value under " +
			"codec ndjson, a string otherwise; return the output record, or nil to drop it; `emit(v)` outputs extra " +
			"records; `error(...)` fails the record. Optional `init(config)` gets the stage's `config:`, `flush()` runs " +
			"at end of stream. The sandbox has no `os`, `io`, `debug` or file loading unless allowed. See stages/lua/README.md.",
		Build:   build,
		Options: options{},
		Examples: []component.Example{
			{Title: "a one-line filter", YAML: "- {name: only-errors, type: lua, code: 'if rec.level ~= \"error\" then return nil end return rec'}"},
			{Title: "a script with local modules", YAML: "- {name: enrich, type: lua, path: scripts/enrich.lua, modules: [scripts/lib], config: {region: eu}}"},
		},
		Flag: &engine.FilterFlag{Value: "CODE", Usage: "filter mode: a Lua stage (script or transform body)",
			Set: func(s *engine.StageSpec, v string) { s.Code = v }},
		Files: func(s *engine.StageSpec) []string {
			var o options
			_ = s.Extra.Decode(&o) // Build reported errors
			return append(pathOf(s), o.Modules...)
		},
	})
}

// pathOf is the stage's script file, if it has one.
func pathOf(s *engine.StageSpec) []string {
	if s.Path == "" {
		return nil
	}
	return []string{s.Path}
}

// Limits of every Lua state: a runaway recursion or table explosion is a
// record error, not a crashed host.
const (
	callStackSize   = 200
	registrySize    = 1024 * 16
	registryMaxSize = 1024 * 1024
)

// loadTimeout bounds a script's top-level code and init(config), which run
// at lint, at start and whenever a state is replaced: an endless loop there
// is an error, not a hang.
var loadTimeout = 10 * time.Second

// loadErr words an error of the top-level code or init run under ctx.
func loadErr(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("did not finish within %v (an endless loop?)", loadTimeout)
	}
	return luaMessage(err)
}

// Libraries a stage may opt in to with allow:.
var optional = map[string]lua.LGFunction{"os": lua.OpenOs, "io": lua.OpenIo}

type options struct {
	Modules []string `yaml:"modules" example:"[scripts/lib]" doc:"Directories require() may load modules from, relative to the pipeline file."` // directories require() may load from
	Allow   []string `yaml:"allow" enum:"os,io" example:"[os]" doc:"Libraries the sandbox leaves out that this stage may use."`                 // extra libraries: os, io
}

type stage struct {
	spec    *engine.StageSpec
	src     script.Source
	opts    options
	json    bool // records are JSON values (codec ndjson)
	log     *slog.Logger
	name    string // chunk name in error messages
	file    string // the script file, "" for code:
	source  string
	proto   *lua.FunctionProto
	body    bool // the code is the body of transform
	modules []string
	config  any
}

func build(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	s := &stage{spec: spec, json: env.Codec == engine.CodecNDJSON, log: env.Logger}
	if err := spec.Extra.Decode(&s.opts); err != nil {
		return nil, err
	}
	src, err := script.FromSpec(spec, "lua", ".lua")
	if err != nil {
		return nil, err
	}
	s.src = src
	s.name, s.file = src.Name, src.File
	for _, a := range s.opts.Allow {
		if _, ok := optional[a]; !ok {
			return nil, spec.Errorf("allow", "allow: %q is not a library a stage can opt in to (os, io)", a)
		}
	}
	for _, m := range s.opts.Modules {
		s.modules = append(s.modules, spec.Resolve(m))
	}
	cfg, err := spec.Config.Value()
	if err != nil {
		return nil, err
	}
	s.config = cfg
	return s, nil
}

var lineRE = regexp.MustCompile(`line:(\d+)\(column:(\d+)\)`)

// Load reads and compiles the script once, and finds out whether it
// defines transform or is the body of one.
func (s *stage) Load(ctx context.Context) error {
	if s.proto != nil {
		return nil
	}
	if err := s.src.Read(s.spec, "lua"); err != nil {
		return err
	}
	s.source = s.src.Code
	chunk, err := s.parse(s.source)
	if err != nil {
		return err
	}
	if !definesTransform(chunk) {
		// No transform(): the code is its body. Same line numbers: the
		// prelude stays on the first line.
		if s.proto, err = s.compile("local rec, meta = ... " + s.source); err != nil {
			return err
		}
		s.body = true
		return nil
	}
	proto, err := s.compile(s.source)
	if err != nil {
		return err
	}
	// Run the script once in a throwaway state: errors in its top-level
	// code show at lint and start.
	L := s.newState(nil)
	defer L.Close()
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	L.SetContext(ctx)
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 0, nil); err != nil {
		return s.spec.Errorf(s.field(), "lua script failed when loaded: %s", loadErr(ctx, err))
	}
	if _, ok := L.GetGlobal("transform").(*lua.LFunction); !ok {
		return s.spec.Errorf(s.field(), "%s: transform is not a function", s.name)
	}
	s.proto = proto
	return nil
}

// definesTransform reports whether a chunk assigns the global transform
// at its top level (function transform(...) or transform = ...).
func definesTransform(chunk []ast.Stmt) bool {
	for _, st := range chunk {
		switch x := st.(type) {
		case *ast.FuncDefStmt:
			if id, ok := x.Name.Func.(*ast.IdentExpr); ok && x.Name.Receiver == nil && id.Value == "transform" {
				return true
			}
		case *ast.AssignStmt:
			for _, l := range x.Lhs {
				if id, ok := l.(*ast.IdentExpr); ok && id.Value == "transform" {
					return true
				}
			}
		}
	}
	return false
}

func (s *stage) field() string { return s.src.Field() }

func (s *stage) compile(src string) (*lua.FunctionProto, error) {
	chunk, err := s.parse(src)
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, s.name)
	if err != nil {
		return nil, s.spec.Errorf(s.field(), "lua: %v", err)
	}
	return proto, nil
}

func (s *stage) parse(src string) ([]ast.Stmt, error) {
	chunk, err := parse.Parse(strings.NewReader(src), s.name)
	if err != nil {
		msg := err.Error()
		if s.file != "" {
			line, col := 0, 0
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				col, _ = strconv.Atoi(m[2])
			} else if strings.Contains(msg, "at EOF") {
				line = strings.Count(strings.TrimRight(src, "\n"), "\n") + 1 // the end of the file
			}
			return nil, &engine.ConfigError{File: s.file, Line: line, Col: col, Msg: "lua syntax error: " + firstLine(msg), Err: err}
		}
		return nil, s.spec.Errorf("code", "lua syntax error in code: %s", firstLine(msg))
	}
	return chunk, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// New makes one instance: its own Lua state with the script loaded and
// init(config) called.
func (s *stage) New(ctx context.Context) (engine.Transformer, error) {
	in := &instance{st: s, order: order{}}
	if err := in.reset(ctx); err != nil {
		return nil, err
	}
	return in, nil
}

type instance struct {
	st        *stage
	L         *lua.LState
	transform *lua.LFunction
	flush     *lua.LFunction
	meta      *lua.LTable
	emitted   []*engine.Record
	cur       *engine.Record
	order     order // key order of the objects decoded for the current record
	broken    bool  // interrupted or panicked: replace the state before the next call
}

// reset builds a fresh Lua state for the instance (at start, and after an
// interrupted call left the old one unusable); the script's top level and
// init(config) run under ctx and loadTimeout.
func (in *instance) reset(ctx context.Context) error {
	if in.L != nil {
		in.L.Close()
	}
	s := in.st
	L := s.newState(in)
	in.L, in.broken = L, false
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	L.SetContext(ctx)
	fn := L.NewFunctionFromProto(s.proto)
	if s.body {
		in.transform = fn
	} else {
		L.Push(fn)
		if err := L.PCall(0, 0, nil); err != nil {
			L.RemoveContext()
			return fmt.Errorf("loading %s: %s", s.name, loadErr(ctx, err))
		}
		in.transform, _ = L.GetGlobal("transform").(*lua.LFunction)
		in.flush, _ = L.GetGlobal("flush").(*lua.LFunction)
		if initFn, ok := L.GetGlobal("init").(*lua.LFunction); ok {
			cfg, err := toLua(L, s.config)
			if err != nil {
				return fmt.Errorf("init: config: %w", err)
			}
			L.Push(initFn)
			L.Push(cfg)
			if err := L.PCall(1, 0, nil); err != nil {
				L.RemoveContext()
				return fmt.Errorf("init: %s", loadErr(ctx, err))
			}
		}
	}
	L.RemoveContext()
	return nil
}

// call runs fn with args under ctx and recovers from anything gopher-lua
// throws; after an interrupt or a panic the state is replaced.
func (in *instance) call(ctx context.Context, fn *lua.LFunction, nret int, args ...lua.LValue) (ret []lua.LValue, err error) {
	if in.broken {
		// A replacement state: its top level and init are not the
		// record's, so not bound by the record's timeout.
		if err := in.reset(context.WithoutCancel(ctx)); err != nil {
			return nil, engine.Fatal(err)
		}
	}
	L := in.L
	L.SetContext(ctx)
	defer func() {
		if r := recover(); r != nil {
			in.broken = true
			err = fmt.Errorf("lua: %v", r)
		}
		if ctx.Err() != nil {
			in.broken = true // interrupted mid-call: do not trust this state
		}
		L.RemoveContext()
		if err != nil { // a result of the old state is still to be encoded
			in.replaceAfterTimeout(ctx)
		}
	}()
	top := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	if err := L.PCall(len(args), nret, nil); err != nil {
		L.SetTop(top)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if strings.Contains(err.Error(), "stack overflow") {
			in.broken = true
		}
		return nil, errors.New(luaMessage(err))
	}
	ret = make([]lua.LValue, nret)
	for i := range nret {
		ret[i] = L.Get(top + 1 + i)
	}
	L.SetTop(top)
	return ret, nil
}

// replaceAfterTimeout replaces the state a timed-out call left unusable
// right away, so that the next record's timeout does not pay for the new
// state's top level and init.
func (in *instance) replaceAfterTimeout(ctx context.Context) {
	if in.broken && errors.Is(context.Cause(ctx), engine.ErrStageTimeout) {
		if err := in.reset(context.WithoutCancel(ctx)); err != nil {
			in.broken = true // the next call tries again and reports it
		}
	}
}

// luaMessage keeps the first line of a Lua error (the position and
// message), without the stack traceback.
func luaMessage(err error) string {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		msg := ae.Object.String()
		return firstLine(msg)
	}
	return firstLine(err.Error())
}

// Transform implements engine.Transformer.
func (in *instance) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if in.transform == nil {
		return engine.Fatal(fmt.Errorf("%s defines no transform function", in.st.name))
	}
	L := in.L
	if in.broken {
		if err := in.reset(context.WithoutCancel(ctx)); err != nil {
			return engine.Fatal(err)
		}
		L = in.L
	}
	var rec lua.LValue
	clear(in.order)
	if in.st.json {
		if script.IsObject(r.Data) {
			rec = newLazy(L, r.Data, in.order) // fields decoded when read
		} else {
			v, err := decodeJSON(L, r.Data, in.order)
			if err != nil {
				return fmt.Errorf("record is not JSON: %w", err)
			}
			rec = v
		}
	} else {
		rec = lua.LString(r.Data)
	}
	in.meta = metaTable(L, r.Meta)
	in.cur, in.emitted = r, in.emitted[:0]
	ret, err := in.call(ctx, in.transform, 1, rec, in.meta)
	if err != nil {
		return err
	}
	for _, e := range in.emitted {
		emit(e)
	}
	if ret[0] == lua.LNil {
		return nil
	}
	data, err := in.encode(ret[0])
	if err != nil {
		return err
	}
	r.Data = data
	r.Meta = fromMeta(in.meta)
	emit(r)
	return nil
}

// Flush implements engine.Flusher: flush() may emit.
func (in *instance) Flush(ctx context.Context, emit func(*engine.Record)) error {
	if in.flush == nil {
		return nil
	}
	in.meta = in.L.NewTable()
	in.cur, in.emitted = engine.NewRecord(nil), in.emitted[:0]
	if _, err := in.call(ctx, in.flush, 0); err != nil {
		return err
	}
	for _, e := range in.emitted {
		emit(e)
	}
	return nil
}

// Close implements engine.Closer.
func (in *instance) Close() error {
	if in.L != nil {
		in.L.Close()
	}
	return nil
}

// encode turns a returned or emitted Lua value into record bytes.
func (in *instance) encode(v lua.LValue) ([]byte, error) {
	if in.st.json {
		if s, ok := v.(lua.LString); ok { // a string is raw JSON, if it parses
			if !jsonValid([]byte(s)) {
				return nil, fmt.Errorf("returned string is not JSON (the codec is ndjson): %.60q", string(s))
			}
			return []byte(s), nil
		}
		return encodeJSON(v, in.order)
	}
	switch x := v.(type) {
	case lua.LString:
		return []byte(x), nil
	case lua.LNumber, lua.LBool:
		return []byte(x.String()), nil
	case *lua.LTable:
		return encodeJSON(x, in.order)
	}
	return nil, fmt.Errorf("cannot output a %s", v.Type())
}

var (
	_ engine.Transformer = (*instance)(nil)
	_ engine.Flusher     = (*instance)(nil)
	_ engine.Closer      = (*instance)(nil)
	_ engine.Loader      = (*stage)(nil)
)
