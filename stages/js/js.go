// Package js runs JavaScript stages (goja, ES2015+ as far as goja goes):
// type: js with code: or path:, and `pipe run --js CODE`. See README.md.
//
// The stage and its instances are the shared script host
// (stages/internal/script); this package is the JavaScript part of it:
// compiling, the sandboxed runtime, and converting records and values.
package js

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
	"github.com/dop251/goja_nodejs/require"
	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script"
)

func init() {
	engine.RegisterKindSpec(engine.KindSpec{
		Name:    "js",
		Summary: "JavaScript scripts (goja, ES2015+), inline (code:) or from a file (path:)",
		Doc: "The script defines `transform(rec, meta)` (or is its body): `rec` is the decoded JSON value under " +
			"codec ndjson, a string otherwise; return the output record, or null/undefined to drop it; `emit(v)` outputs " +
			"extra records; `throw` fails the record. Optional `init(config)` gets the stage's `config:`, `flush()` runs " +
			"at end of stream. No filesystem or network; `require` loads only from `modules:`. See stages/js/README.md.",
		Build:   build,
		Options: options{},
		Examples: []component.Example{
			{Title: "a one-line filter", YAML: "- {name: only-errors, type: js, code: 'return rec.level == \"error\" ? rec : null'}"},
			{Title: "a script with local modules", YAML: "- {name: enrich, type: js, path: scripts/enrich.js, modules: [scripts/lib], config: {region: eu}}"},
		},
		Flag: &engine.FilterFlag{Value: "CODE", Usage: "filter mode: a JavaScript stage (script or transform body)",
			Set: func(s *engine.StageSpec, v string) { s.Code = v }},
		Files: func(s *engine.StageSpec) []string {
			var o options
			_ = s.Extra.Decode(&o) // Build reported errors
			files := o.Modules
			if s.Path != "" {
				files = append([]string{s.Path}, files...)
			}
			return files
		},
	})
}

const maxCallStack = 1000

type options struct {
	Modules []string `yaml:"modules" example:"[scripts/lib]" doc:"Directories require() may load modules from, relative to the pipeline file."`
	// MemoryLimit bounds what one call may allocate (see script.memGuard).
	MemoryLimit *engine.ByteSize `yaml:"memory_limit" default:"256MiB" example:"64MiB" doc:"How much one call of the script may grow the heap; past it the record fails and the runtime is replaced. 0 turns the check off."`
}

func build(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	var opts options
	if err := spec.Extra.Decode(&opts); err != nil {
		return nil, err
	}
	st, err := script.NewStage(spec, env, "js", ".js", opts.Modules, func(s *script.Stage) script.Language {
		return &language{st: s}
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

// language is the JavaScript part of one stage: the compiled script and
// the require registry its runtimes share.
type language struct {
	st     *script.Stage
	source string
	prog   *goja.Program
	body   bool
	noMeta bool // the body cannot reach meta (see Compile)

	reqOnce sync.Once
	reqReg  *require.Registry
}

var posRE = regexp.MustCompile(`Line (\d+):(\d+)`)

// prelude makes code without a transform declaration the body of one; it
// stays on line 1, so line numbers are the user's.
const prelude = "(function(rec, meta) {"

// Compile implements script.Language: a script that declares transform is
// compiled as is; any other code is the body of transform.
func (l *language) Compile(src *script.Source) (bool, error) {
	l.source = src.Code
	if prog, err := parser.ParseFile(nil, src.Name, src.Code, 0, parser.WithDisableSourceMaps); err == nil && declaresTransform(prog.Body) {
		p, err := compile(src.Name, src.Code)
		if err != nil {
			return false, l.syntaxError(err, 0)
		}
		l.prog = p
		return false, nil
	}
	p, err := compile(src.Name, prelude+src.Code+"\n})")
	if err != nil {
		return false, l.syntaxError(err, len(prelude))
	}
	l.prog, l.body = p, true
	// meta, the body's second parameter, is out of the script's reach
	// when the code never names it, nor arguments or eval, nor spells a
	// name with escapes: no metadata object is made then (see readMeta).
	l.noMeta = true
	for _, w := range []string{"meta", "arguments", "eval", "\\u"} {
		if strings.Contains(src.Code, w) {
			l.noMeta = false
		}
	}
	return true, nil
}

// compile compiles a script as goja.Compile does, with its for-of loops
// rewritten (see rewriteForOf).
func compile(name, code string) (*goja.Program, error) {
	// No source maps: goja would read whatever file a "//#
	// sourceMappingURL=" comment names, outside the sandbox.
	prog, err := goja.Parse(name, code, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, err
	}
	rewriteForOf(prog)
	return goja.CompileAST(prog, false)
}

// syntaxError positions a compile error; shift is the prelude's length on
// line 1. An error in the closing line of the prelude's wrapper is the end
// of the user's code.
func (l *language) syntaxError(err error, shift int) error {
	name := l.st.Src.Name
	msg := err.Error()
	line, col := 0, 0
	if m := posRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		col, _ = strconv.Atoi(m[2])
		if line == 1 {
			col = max(col-shift, 1)
		}
	}
	msg = strings.TrimSpace(posRE.ReplaceAllString(msg, ""))
	msg = strings.Join(strings.Fields(strings.Replace(msg, name+":", "", 1)), " ")
	src := strings.TrimRight(l.source, "\n")
	if n := strings.Count(src, "\n") + 1; shift > 0 && line > n {
		last := src[strings.LastIndexByte(src, '\n')+1:]
		line, col = n, len(last)+1
		msg = "SyntaxError: unexpected end of the script (an unclosed bracket, string or expression?)"
	}
	if file := l.st.Src.File; file != "" {
		return &engine.ConfigError{File: file, Line: line, Col: col, Msg: "js syntax error: " + msg, Err: err}
	}
	return l.st.Spec.Errorf("code", "js syntax error in code at %d:%d: %s", line, col, msg)
}

// Message implements script.Language: an error's first line, the position
// and message of a thrown value, without the stack. Positions on line 1 of
// code that is the body of transform do not count the prelude.
func (l *language) Message(err error) string {
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return "RangeError: maximum call stack size exceeded (" + strconv.Itoa(maxCallStack) + " calls)"
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		msg := ex.Value().String()
		// The innermost frame in script code: an error thrown by a Go
		// function (require, emit) has that function's native frame first.
		for _, f := range ex.Stack() {
			if pos := f.Position(); pos.Filename != "" {
				if l.body && pos.Filename == l.st.Src.Name && pos.Line == 1 {
					pos.Column = max(pos.Column-len(prelude), 1)
				}
				return fmt.Sprintf("%s:%d:%d: %s", pos.Filename, pos.Line, pos.Column, msg)
			}
		}
		return msg
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// VouchesJSON implements script.JSONVouching: under codec ndjson a record
// is a lazy record's bytes with edits encoded by appendPrimitive or the
// runtime's own JSON.stringify (the one NewVM took, whatever the script
// does to JSON), a value encoded by that stringify, or a string jsonValid
// accepted, compacted when it has a newline; so each is one JSON value on
// one line when the input's records were (TestOutputIsJSON).
func (l *language) VouchesJSON() bool { return true }

// Broken implements script.Language: a stack overflow leaves the runtime
// unusable.
func (l *language) Broken(err error) bool {
	var se *goja.StackOverflowError
	return errors.As(err, &se) || strings.Contains(err.Error(), "Maximum call stack size exceeded")
}

// NewVM implements script.Language: a sandboxed runtime (see newVM).
func (l *language) NewVM(in *script.Instance) script.VM {
	v := &vm{l: l, in: in}
	rt := l.newRuntime(v)
	findASCII(rt)
	v.rt = rt
	if v.stack = valueStack(rt); v.stack != nil {
		v.keep = make([]goja.Value, keptStack)
	}
	v.interrupt = func() { rt.Interrupt("timeout") }
	js := rt.Get("JSON").ToObject(rt)
	v.stringify = v.callable(js.Get("stringify"))
	v.parse = v.callable(js.Get("parse"))
	return v
}

// callable returns the function f (nil if it is none) as a Go function
// that hands the runtime the vm's kept value stack before a call from Go
// (see keptStack).
func (v *vm) callable(f goja.Value) goja.Callable {
	fn, ok := goja.AssertFunction(f)
	if !ok {
		return nil
	}
	if v.stack == nil {
		return fn
	}
	return func(this goja.Value, args ...goja.Value) (goja.Value, error) {
		if s := v.stack; len(*s) == 0 && cap(*s) == 0 { // not inside a call
			*s = v.keep[:0]
			v.calls++
		}
		return fn(this, args...)
	}
}

// vm is one runtime of the stage.
type vm struct {
	l         *language
	in        *script.Instance // nil for the runtime Load checks the script with
	rt        *goja.Runtime
	transform goja.Callable
	flush     goja.Callable
	init      goja.Callable
	stringify goja.Callable
	parse     goja.Callable
	rec, ret  goja.Value
	args      [2]goja.Value // transform's
	// The current record's lazy object, if it is one: emit finds it
	// without Export (which allocates).
	recObj    *goja.Object
	recLazy   *lazyObj
	recData   []byte // the current record's own bytes, which recLazy copied
	meta      *goja.Object
	hadMeta   bool              // the current record has metadata
	recMeta   map[string]string // the current record's, when meta is out of reach
	interrupt func()
	// The runtime's value stack and the one the vm keeps for it (see
	// keptStack; nil when not found); calls counts the calls since keep
	// was last cleared.
	stack *[]goja.Value
	keep  []goja.Value
	calls int
	stop  func() bool     // of the Bind in force
	ctx   context.Context // of the Bind in force, for Go loops that check it
}

// Bind implements script.VM: ctx's end interrupts the runtime.
func (v *vm) Bind(ctx context.Context) { v.ctx, v.stop = ctx, context.AfterFunc(ctx, v.interrupt) }

// Unbind implements script.VM. It also lets go of the values the calls
// left in the kept stack, every so many calls (goja leaves them there).
func (v *vm) Unbind(context.Context) bool {
	if v.calls >= 64 && v.stack != nil && len(*v.stack) == 0 {
		clear(v.keep)
		v.calls = 0
	}
	if v.stop == nil {
		return false
	}
	fired := !v.stop()
	v.stop = nil
	if fired {
		v.rt.ClearInterrupt()
	}
	return fired
}

// Run implements script.VM.
func (v *vm) Run() error {
	val, err := v.rt.RunProgram(v.l.prog)
	if err != nil {
		return err
	}
	if v.l.body {
		v.transform = v.callable(val)
		return nil
	}
	v.transform = v.callable(v.rt.Get("transform"))
	v.flush = v.callable(v.rt.Get("flush"))
	v.init = v.callable(v.rt.Get("init"))
	return nil
}

// Defines implements script.VM.
func (v *vm) Defines() (transform, flush bool) { return v.transform != nil, v.flush != nil }

// Init implements script.VM.
func (v *vm) Init(config any) error {
	if v.init == nil {
		return nil
	}
	_, err := v.init(goja.Undefined(), v.rt.ToValue(config))
	return err
}

// SetRecord implements script.VM: a JSON object record is a lazy object
// (fields decoded when read), any other JSON value is parsed, and a record
// of another codec is a string.
func (v *vm) SetRecord(r *engine.Record) error {
	rt := v.rt
	if r == nil {
		v.meta, v.hadMeta = rt.NewObject(), false
		return nil
	}
	v.hadMeta = len(r.Meta) > 0
	if v.l.st.JSON {
		if script.IsObject(r.Data) {
			// The object reads a copy of the record: the script may
			// keep it past the call, and r.Data may be a buffer the
			// engine reuses once the batch is written (stage.Record).
			lo := newLazyObj(v, r.Data)
			if v.in != nil { // the instance's index of the record's fields, moved to the copy
				lo.Fields = v.in.Fields()
				lo.Fields.Moved(r.Data, lo.Data)
			}
			v.rec = rt.NewDynamicObject(lo)
			v.recObj, v.recLazy, v.recData = v.rec.(*goja.Object), lo, r.Data
		} else {
			if err := script.CheckDepth(r.Data); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			val, err := v.parse(goja.Undefined(), rt.ToValue(string(r.Data)))
			if err != nil {
				return fmt.Errorf("record is not JSON: %s", v.l.Message(err))
			}
			v.rec = val
		}
	} else {
		if val, _, ok := asciiCopy(rt, r.Data); ok {
			v.rec = val
		} else {
			v.rec = rt.ToValue(string(r.Data))
		}
	}
	if v.l.noMeta {
		v.meta, v.recMeta = nil, r.Meta
		return nil
	}
	v.meta = metaObject(rt, r.Meta)
	return nil
}

// Call implements script.VM.
func (v *vm) Call(flush bool) error {
	var err error
	if flush {
		_, err = v.flush(goja.Undefined())
	} else {
		meta := goja.Value(goja.Undefined()) // out of the script's reach
		if v.meta != nil {
			meta = v.meta
		}
		// (the arguments in a slice of the VM's: a variadic call of
		// rec, meta would allocate one a record)
		v.args[0], v.args[1] = v.rec, meta
		v.ret, err = v.transform(goja.Undefined(), v.args[:]...)
		v.args = [2]goja.Value{}
	}
	v.rec = nil
	return err
}

// Result implements script.VM.
func (v *vm) Result() ([]byte, map[string]string, bool, error) {
	ret := v.ret
	v.ret = nil
	if ret == nil || goja.IsUndefined(ret) || goja.IsNull(ret) {
		return nil, nil, false, nil
	}
	data, err := v.encode(ret, false)
	if err != nil {
		return nil, nil, false, err
	}
	if v.meta == nil { // out of the script's reach: the record's own
		return data, v.recMeta, true, nil
	}
	return data, v.readMeta(), true, nil
}

// Close implements script.VM (a runtime holds nothing to release).
func (v *vm) Close() {}

func metaObject(rt *goja.Runtime, meta map[string]string) *goja.Object {
	o := rt.NewObject()
	for k, v := range meta {
		o.Set(k, v)
	}
	return o
}

// readMeta reads the metadata object back (values as strings). nil, when
// the record had none and the script set none, saves a map a record: an
// empty map means the script deleted what the record had.
func (v *vm) readMeta() map[string]string {
	if v.meta == nil {
		return nil // out of the script's reach: an emitted record inherits
	}
	keys := v.meta.Keys()
	if len(keys) == 0 && !v.hadMeta {
		return nil
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		val := v.meta.Get(k)
		if val != nil && !goja.IsUndefined(val) && !goja.IsNull(val) {
			m[k] = val.String()
		}
	}
	return m
}

// encode turns a returned or emitted value into record bytes; again is
// true for emit, which a script may call again and again with a field of
// the same record changed (see script.Lazy.EncodeAgain).
func (v *vm) encode(val goja.Value, again bool) ([]byte, error) {
	if _, ok := val.(*goja.Symbol); ok {
		return nil, errors.New("cannot output a Symbol")
	}
	if o, ok := val.(*goja.Object); ok && o == v.recObj {
		return v.recLazy.output(again, v.recData)
	}
	if o, ok := val.(*goja.Object); ok && o.ExportType() == lazyType {
		return o.Export().(*lazyObj).output(again, nil) // (Export of any other object converts all of it)
	}
	if !v.l.st.JSON {
		if o, ok := val.(*goja.Object); ok && o.ClassName() != "String" {
			return v.output(val)
		}
		return v.own(val.String()), nil
	}
	if s, ok := val.Export().(string); ok { // a string is raw JSON, if it parses
		if !jsonValid(unsafe.Slice(unsafe.StringData(s), len(s))) { // (read only)
			return nil, fmt.Errorf("returned string is not JSON (the codec is ndjson): %.60q", s)
		}
		if strings.IndexByte(s, '\n') >= 0 {
			// One line, as the ndjson output writes it (see VouchesJSON).
			var c bytes.Buffer
			if err := json.Compact(&c, []byte(s)); err != nil {
				return nil, fmt.Errorf("returned string is not JSON (the codec is ndjson): %w", err)
			}
			return c.Bytes(), nil
		}
		return v.own(s), nil
	}
	return v.output(val)
}

// output is stringifyValue's JSON as an output record's bytes.
func (v *vm) output(val goja.Value) ([]byte, error) {
	s, err := v.stringifyValue(val)
	if err != nil {
		return nil, err
	}
	return v.own(s), nil
}

// stringifyValue returns JSON.stringify(val), checked for the values JSON
// cannot hold (see checkFinite).
func (v *vm) stringifyValue(val goja.Value) (string, error) {
	switch val.ExportType().Kind().String() {
	case "func":
		return "", errors.New("cannot output a function")
	}
	if val.ExportType().String() == "*goja.Symbol" {
		return "", errors.New("cannot output a Symbol")
	}
	s, err := v.stringify(goja.Undefined(), val)
	if err != nil {
		return "", fmt.Errorf("cannot output the value: %s", v.l.Message(err))
	}
	if goja.IsUndefined(s) {
		return "", fmt.Errorf("cannot output a %s", val.ExportType())
	}
	str := s.String()
	if err := v.checkFinite(val, str); err != nil {
		return "", err
	}
	return str, nil
}

// own returns a copy of s for an output record's bytes: cut from the
// batch's output arena while the engine lends the instance one
// (script.Instance.Output), so an output record costs no allocation of its
// own and its bytes are reused once its batch is written. (js5's 32 KiB
// blocks shared by the VM's output records saved the allocation too, but a
// block lived until its last record was written; js6's arena stayed with
// every pooled batch: both kept more peak RSS on W2 with 2 workers.)
func (v *vm) own(s string) []byte {
	if v.in == nil {
		return []byte(s)
	}
	return v.in.Output(s)
}

var (
	_ script.Language     = (*language)(nil)
	_ script.JSONVouching = (*language)(nil)
	_ script.VM           = (*vm)(nil)
)
