// Package lua runs Lua stages (gopher-lua, Lua 5.1): type: lua with code:
// or path:, and `pipe run --lua CODE`. See README.md for the script API,
// the sandbox and the limits.
//
// The stage and its instances are the shared script host
// (stages/internal/script); this package is the Lua part of it: compiling,
// the sandboxed state, and converting records and values.
package lua

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unsafe"

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

// Libraries a stage may opt in to with allow:.
var optional = map[string]lua.LGFunction{"os": lua.OpenOs, "io": lua.OpenIo}

type options struct {
	Modules []string `yaml:"modules" example:"[scripts/lib]" doc:"Directories require() may load modules from, relative to the pipeline file."` // directories require() may load from
	Allow   []string `yaml:"allow" enum:"os,io" example:"[os]" doc:"Libraries the sandbox leaves out that this stage may use."`                 // extra libraries: os, io
	// MemoryLimit bounds what one call may allocate (see script.memGuard).
	MemoryLimit *engine.ByteSize `yaml:"memory_limit" default:"256MiB" example:"64MiB" doc:"How much one call of the script may grow the heap; past it the record fails and the Lua state is replaced. 0 turns the check off."`
}

func build(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	var opts options
	if err := spec.Extra.Decode(&opts); err != nil {
		return nil, err
	}
	for _, a := range opts.Allow {
		if _, ok := optional[a]; !ok {
			return nil, spec.Errorf("allow", "allow: %q is not a library a stage can opt in to (os, io)", a)
		}
	}
	st, err := script.NewStage(spec, env, "lua", ".lua", opts.Modules, func(s *script.Stage) script.Language {
		return &language{st: s, allow: opts.Allow}
	})
	if err != nil {
		return nil, err
	}
	if opts.MemoryLimit != nil {
		if *opts.MemoryLimit < 0 {
			return nil, spec.Errorf("memory_limit", "memory_limit must not be negative")
		}
		st.MemoryLimit = int64(*opts.MemoryLimit)
	}
	return st, nil
}

// language is the Lua part of one stage: the compiled script and the
// modules its states require.
type language struct {
	st       *script.Stage
	allow    []string
	proto    *lua.FunctionProto
	body     bool // the code is the body of transform
	noMeta   bool // the body cannot reach meta (see Compile)
	noRetain bool // the body keeps nothing of a call (keepsNothing)

	modMu sync.Mutex
	mods  map[string]*lua.FunctionProto // compiled modules by real path, read once
}

// alwaysCopy turns keepsNothing's fast path off (for tests comparing it
// with the general one).
var alwaysCopy = false

var lineRE = regexp.MustCompile(`line:(\d+)\(column:(\d+)\)`)

// Compile implements script.Language: a chunk that assigns the global
// transform at its top level is compiled as is, any other code as the body
// of transform.
func (l *language) Compile(src *script.Source) (bool, error) {
	chunk, err := l.parse(src.Code)
	if err != nil {
		return false, err
	}
	if !definesTransform(chunk) {
		// No transform(): the code is its body. Same line numbers: the
		// prelude stays on the first line. A body that does not read the
		// chunk's ... is the function transform itself, with parameters
		// rec and meta (Run takes it out of the chunk): a call of a
		// function with fixed parameters skips the moves of a vararg
		// one and the VARARG instruction.
		l.proto = nil
		if !strings.Contains(src.Code, "...") {
			if proto, err := l.compile("return function(rec, meta) " + src.Code + "\nend"); err == nil &&
				len(proto.FunctionPrototypes) == 1 && proto.FunctionPrototypes[0].NumUpvalues == 0 {
				l.proto = proto.FunctionPrototypes[0]
			}
		}
		if l.proto == nil {
			if l.proto, err = l.compile("local rec, meta = ... " + src.Code); err != nil {
				return false, err
			}
		}
		l.body = true
		// meta, the body's second local, is out of the script's reach
		// when the code never names it nor reads the chunk's ... again:
		// no metadata table is made then (see vm.readMeta).
		l.noMeta = !strings.Contains(src.Code, "meta") && !strings.Contains(src.Code, "...")
		l.noRetain = keepsNothing(chunk) && !alwaysCopy
		return true, nil
	}
	l.proto, err = l.compile(src.Code)
	return false, err
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

func (l *language) compile(src string) (*lua.FunctionProto, error) {
	chunk, err := l.parse(src)
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, l.st.Src.Name)
	if err != nil {
		return nil, l.st.Spec.Errorf(l.st.Src.Field(), "lua: %v", err)
	}
	return unboxKeys(proto), nil
}

func (l *language) parse(src string) ([]ast.Stmt, error) {
	s := &l.st.Src
	chunk, err := parse.Parse(strings.NewReader(src), s.Name)
	if err != nil {
		msg := err.Error()
		if s.File != "" {
			line, col := 0, 0
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				col, _ = strconv.Atoi(m[2])
			} else if strings.Contains(msg, "at EOF") {
				line = strings.Count(strings.TrimRight(src, "\n"), "\n") + 1 // the end of the file
			}
			return nil, &engine.ConfigError{File: s.File, Line: line, Col: col, Msg: "lua syntax error: " + firstLine(msg), Err: err}
		}
		return nil, l.st.Spec.Errorf("code", "lua syntax error in code: %s", firstLine(msg))
	}
	return chunk, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Message implements script.Language: the first line of a Lua error (the
// position and message), without the stack traceback.
func (l *language) Message(err error) string {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		// A copy: error(rec) raises the record's bytes (see keepsNothing),
		// which the engine reuses, and the message outlives the call.
		return strings.Clone(firstLine(ae.Object.String()))
	}
	return firstLine(err.Error())
}

// VouchesJSON implements script.JSONVouching: under codec ndjson a record
// is a lazy record's bytes with edits encoded by appendValue, a value
// encoded by encodeJSON, or a string jsonValid accepted, compacted when it
// has a newline; so each is one JSON value on one line when the input's
// records were.
func (l *language) VouchesJSON() bool { return true }

// Broken implements script.Language: a stack overflow leaves the state
// unusable.
func (l *language) Broken(err error) bool { return strings.Contains(err.Error(), "stack overflow") }

// NewVM implements script.Language: a sandboxed state (see newState).
func (l *language) NewVM(in *script.Instance) script.VM {
	v := &vm{l: l, in: in}
	if in != nil {
		v.order = order{}
	}
	v.L = l.newState(v)
	return v
}

// vm is one Lua state of the stage.
type vm struct {
	l         *language
	in        *script.Instance // nil for the state Load checks the script with
	L         *lua.LState
	bound     *interrupt // the state's context, between Bind and Unbind
	transform *lua.LFunction
	flush     *lua.LFunction
	init      *lua.LFunction
	rec, ret  lua.LValue
	meta      *lua.LTable
	hadMeta   bool              // the current record has metadata
	recMeta   map[string]string // the current record's, when meta is out of reach
	order     order             // key order of the objects decoded for the current record
	curData   []byte            // the current record's bytes
	curLazy   *lazyRec          // the current record's lazy table, if it has one
	lazyMT    lua.LValue        // the metatable of lazy records
	arrayMT   *lua.LTable       // the metatable of arrays, once looked up (see convert)
	// For a body that keeps nothing of a call (language.noRetain): the
	// lazy table of the last record, made that of the next; the bytes of
	// the strings string.upper and lower made in the current call (see
	// scratchFor), reused by the next call.
	lazy    *lazyRec
	emitBuf []byte    // where emit encodes a lazy record (see emit)
	arrays  tablePool // the tables of the arrays decoded from records
	scratch []byte
	boxes   [maxBoxes]lua.LString // see box
	nbox    int
}

// Bind implements script.VM: the state's context (an interrupt on ctx)
// interrupts it.
func (v *vm) Bind(ctx context.Context) {
	v.bound = newInterrupt(ctx)
	v.L.SetContext(v.bound)
}

// Unbind implements script.VM.
func (v *vm) Unbind(ctx context.Context) bool {
	v.L.RemoveContext()
	if v.bound != nil {
		v.bound.release()
		v.bound = nil
	}
	return ctx.Err() != nil
}

// Run implements script.VM.
func (v *vm) Run() error {
	L := v.L
	fn := L.NewFunctionFromProto(v.l.proto)
	if v.l.body {
		v.transform = fn
		return nil
	}
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err != nil {
		return err
	}
	v.transform, _ = L.GetGlobal("transform").(*lua.LFunction)
	v.flush, _ = L.GetGlobal("flush").(*lua.LFunction)
	v.init, _ = L.GetGlobal("init").(*lua.LFunction)
	return nil
}

// Defines implements script.VM.
func (v *vm) Defines() (transform, flush bool) { return v.transform != nil, v.flush != nil }

// Init implements script.VM.
func (v *vm) Init(config any) error {
	if v.init == nil {
		return nil
	}
	L := v.L
	cfg, err := toLua(L, config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	L.Push(v.init)
	L.Push(cfg)
	return L.PCall(1, 0, nil)
}

// SetRecord implements script.VM: a JSON object record is a lazy table
// (fields decoded when read), any other JSON value is converted, and a
// record of another codec is a string.
func (v *vm) SetRecord(r *engine.Record) error {
	L := v.L
	v.curLazy, v.nbox = nil, 0
	if v.l.noRetain {
		v.resetScratch()
		if v.arrays.n > 0 {
			v.arrays.reset()
		}
	}
	if r == nil {
		v.curData = nil
		v.meta, v.hadMeta = L.NewTable(), false
		return nil
	}
	clear(v.order)
	v.curData = r.Data
	if v.l.st.JSON {
		if script.IsObject(r.Data) {
			if v.lazyMT == nil {
				v.lazyMT = L.GetField(L.G.Registry, proxyMTKey)
			}
			var fields *script.Fields
			if v.in != nil {
				fields = v.in.Fields()
			}
			if v.l.noRetain {
				// Nothing can reach the last record's table: it serves
				// this one, on the record's own bytes.
				v.lazy = reuseLazy(v.lazy, v.lazyMT, r.Data, v.order, fields)
				v.lazy.v = v
				v.curLazy = v.lazy
			} else {
				// The script may keep rec past the call, and the engine
				// reuses the record's buffer once the batch is written:
				// the table reads a copy.
				data := bytes.Clone(r.Data)
				if fields != nil {
					fields.Moved(r.Data, data)
				}
				v.curLazy = newLazy(v.lazyMT, data, v.order, fields)
				v.curLazy.v = v
			}
			v.rec = &v.curLazy.ud
		} else {
			rec, err := decodeJSON(L, r.Data, v.order)
			if err != nil {
				if errors.Is(err, script.ErrTooDeep) || errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("record: %w", err)
				}
				return fmt.Errorf("record is not JSON: %w", err)
			}
			v.rec = rec
		}
	} else if v.l.noRetain {
		// The body keeps nothing of the call: the string is the record's
		// bytes, not a copy (unchanged while the call runs).
		v.rec = v.box(unsafe.String(unsafe.SliceData(r.Data), len(r.Data)))
	} else {
		v.rec = lua.LString(r.Data)
	}
	if v.l.noMeta {
		v.meta, v.recMeta = nil, r.Meta
		return nil
	}
	v.meta, v.hadMeta = metaTable(L, r.Meta), len(r.Meta) > 0
	return nil
}

// Call implements script.VM.
func (v *vm) Call(flush bool) error {
	L := v.L
	top := L.GetTop()
	var err error
	if flush {
		L.Push(v.flush)
		err = L.PCall(0, 0, nil)
	} else {
		L.Push(v.transform)
		L.Push(v.rec)
		if v.meta != nil {
			L.Push(v.meta)
		} else {
			L.Push(lua.LNil) // out of the script's reach
		}
		if err = L.PCall(2, 1, nil); err == nil {
			v.ret = L.Get(top + 1)
		}
	}
	v.rec = nil
	L.SetTop(top)
	return err
}

// Result implements script.VM.
func (v *vm) Result() ([]byte, map[string]string, bool, error) {
	ret := v.ret
	v.ret = nil
	if ret == nil || ret == lua.LNil {
		return nil, nil, false, nil
	}
	// The metadata first: the record's bytes may take the result's (see
	// bytesOf), and a metadata value may be a string on them.
	meta := v.recMeta // out of the script's reach: the record's own
	if v.meta != nil {
		meta = v.readMeta()
	}
	data, err := v.encode(ret, true)
	if err != nil {
		return nil, nil, false, err
	}
	return data, meta, true, nil
}

// Close implements script.VM.
func (v *vm) Close() { v.L.Close() }

// readMeta reads the metadata table back. nil, when the record had none
// and the script set none, saves a map a record: an empty map means the
// script deleted what the record had.
func (v *vm) readMeta() map[string]string {
	if v.meta == nil {
		return nil // out of the script's reach: an emitted record inherits
	}
	if !v.hadMeta {
		if k, _ := v.meta.Next(lua.LNil); k == lua.LNil {
			return nil
		}
	}
	return fromMeta(v.meta)
}

// emit is the script's emit(v).
func (v *vm) emit(L *lua.LState) int {
	if v.in == nil {
		return 0
	}
	val := L.CheckAny(1)
	var data []byte
	var err error
	if lr := lazyOf(val); lr != nil && v.l.st.JSON {
		// A lazy record (emit in a loop, one record per tag): encoded in
		// the VM's buffer, then copied into the batch's output arena.
		data, err = lr.EncodeAgainTo(v.emitBuf, fieldEncoder{v.order})
		if err == nil {
			if unsafe.SliceData(data) != unsafe.SliceData(lr.Data) && cap(data) <= maxScratch {
				v.emitBuf = data
			}
			data = v.in.Output(unsafe.String(unsafe.SliceData(data), len(data)))
		}
	} else {
		data, err = v.encode(val, false)
	}
	if err != nil {
		L.RaiseError("emit: %v", err)
	}
	meta := v.recMeta // meta out of the script's reach: the record's own
	if v.meta != nil {
		meta = v.readMeta()
	} else {
		meta = maps.Clone(meta) // each emitted record has its own map
	}
	v.in.Emit(data, meta)
	return 0
}

// encode turns a returned or emitted Lua value into record bytes. result
// is true for what transform returned: the current record's bytes, when it
// is the record unchanged, are then not copied.
func (v *vm) encode(val lua.LValue, result bool) ([]byte, error) {
	if lr := lazyOf(val); lr != nil && v.l.st.JSON { // a lazy record: its bytes, edited
		encode := lr.encodeAgain // emit may be called again with a field changed
		if result {
			encode = lr.encode
		}
		data, err := encode(v.order)
		if err != nil {
			return nil, err
		}
		if unsafe.SliceData(data) == unsafe.SliceData(lr.Data) { // unchanged
			if result && lr == v.curLazy {
				return v.curData, nil // the current record's own bytes
			}
			// A record of its own, so that no two records share bytes.
			data = bytes.Clone(data)
		}
		return data, nil
	}
	if v.l.st.JSON {
		if s, ok := val.(lua.LString); ok { // a string is raw JSON, if it parses
			if !jsonValid(unsafe.Slice(unsafe.StringData(string(s)), len(s))) {
				return nil, fmt.Errorf("returned string is not JSON (the codec is ndjson): %.60q", string(s))
			}
			b := v.bytesOf(string(s), result)
			if bytes.IndexByte(b, '\n') >= 0 {
				// One line, as the ndjson output writes it (see VouchesJSON).
				var c bytes.Buffer
				if err := json.Compact(&c, b); err != nil {
					return nil, fmt.Errorf("returned string is not JSON (the codec is ndjson): %w", err)
				}
				b = c.Bytes()
			}
			return b, nil
		}
		return encodeJSON(val, v.order)
	}
	switch x := val.(type) {
	case lua.LString:
		return v.bytesOf(string(x), result), nil
	case lua.LNumber, lua.LBool:
		return []byte(x.String()), nil
	case *lua.LTable:
		return encodeJSON(x, v.order)
	}
	return nil, fmt.Errorf("cannot output a %s", val.Type())
}

// maxBoxes is how many strings of one call box holds in the VM.
const maxBoxes = 8

// lstringTab is the first word of an lua.LValue holding a lua.LString.
var lstringTab = func() unsafe.Pointer {
	var v lua.LValue = lua.LString("")
	return (*iface)(unsafe.Pointer(&v)).tab
}()

// iface is the layout of a non-empty interface value.
type iface struct{ tab, data unsafe.Pointer }

// box returns s as a Lua value. Converting a string to an interface
// allocates its header; for a body that keeps nothing of a call (no Lua
// value of the call is reachable once it is over), the first strings of a
// call have their headers in the VM instead (v.boxes, reused by the next
// call), which saves W2 one of its three allocations a record.
func (v *vm) box(s string) lua.LValue {
	if !v.l.noRetain || v.nbox == len(v.boxes) {
		return lua.LString(s)
	}
	b := &v.boxes[v.nbox]
	v.nbox++
	*b = lua.LString(s)
	var lv lua.LValue
	w := (*iface)(unsafe.Pointer(&lv))
	w.tab, w.data = lstringTab, unsafe.Pointer(b)
	return lv
}

// bytesOf returns the bytes of a string a script returned (result) or
// emitted, for a record: a copy, except for a body that keeps nothing of a
// call and what it returns: the current record's bytes when the string is
// them, or when it has their length, the current record's bytes with the
// string copied over them (no Lua code can reach them once the call is
// over, the record takes them back, and an emitted record always got a
// copy). So a result never holds bytes of the VM's scratch, which the next
// call reuses (see scratchFor).
func (v *vm) bytesOf(s string, result bool) []byte {
	if v.l.noRetain && result && len(s) > 0 && len(s) == len(v.curData) {
		if unsafe.StringData(s) != unsafe.SliceData(v.curData) {
			copy(v.curData, s)
		}
		return v.curData
	}
	return []byte(s)
}

// maxScratch is the largest scratch a VM keeps from one call to the next.
const maxScratch = 64 << 10

// scratchFor returns n bytes for a string a body that keeps nothing of a
// call makes (string.upper, lower), from the VM's scratch: no Lua value of
// a call outlives it, and bytesOf copies what a record takes, so the next
// call may write over them (resetScratch). A string that does not fit
// gets a new scratch; the strings of the old one keep it alive until the
// call is over.
func (v *vm) scratchFor(n int) []byte {
	if len(v.scratch)+n > cap(v.scratch) {
		v.scratch = make([]byte, 0, max(2*cap(v.scratch), n, 1<<10))
	}
	b := v.scratch[len(v.scratch) : len(v.scratch)+n : len(v.scratch)+n]
	v.scratch = v.scratch[:len(v.scratch)+n]
	return b
}

// resetScratch makes the scratch free for the next call; one grown past
// maxScratch (a huge record) is left to the collector.
func (v *vm) resetScratch() {
	if cap(v.scratch) > maxScratch {
		v.scratch = nil
	}
	v.scratch = v.scratch[:0]
}

var (
	_ script.Language = (*language)(nil)
	_ script.VM       = (*vm)(nil)
)
