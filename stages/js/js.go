// Package js runs JavaScript stages (goja, ES2015+ as far as goja goes):
// type: js with code: or path:, and `pipe run --js CODE`. See README.md.
package js

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

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
}

type stage struct {
	spec    *engine.StageSpec
	src     script.Source
	opts    options
	json    bool
	log     *slog.Logger
	name    string
	file    string
	source  string
	prog    *goja.Program
	body    bool
	modules []string
	config  any

	reqOnce sync.Once
	reqReg  *require.Registry
	modDirs []string // modules, absolute with links resolved
}

func build(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	s := &stage{spec: spec, json: env.Codec == engine.CodecNDJSON, log: env.Logger}
	if err := spec.Extra.Decode(&s.opts); err != nil {
		return nil, err
	}
	src, err := script.FromSpec(spec, "js", ".js")
	if err != nil {
		return nil, err
	}
	s.src = src
	s.name, s.file = src.Name, src.File
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

var posRE = regexp.MustCompile(`Line (\d+):(\d+)`)

func (s *stage) field() string { return s.src.Field() }

// prelude makes code without a transform declaration the body of one; it
// stays on line 1, so line numbers are the user's.
const prelude = "(function(rec, meta) {"

// loadTimeout bounds a script's top-level code and init(config), which run
// at lint, at start and whenever a runtime is replaced: an endless loop
// there is an error, not a hang.
var loadTimeout = 10 * time.Second

// guard interrupts vm when ctx is done or loadTimeout has passed; stop
// reports whether it did.
func guard(ctx context.Context, vm *goja.Runtime) (stop func() bool) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	after := context.AfterFunc(ctx, func() { vm.Interrupt("timeout") })
	return func() bool {
		fired := !after()
		cancel()
		if fired {
			vm.ClearInterrupt()
		}
		return fired
	}
}

// loadErr words an error of the top-level code or init.
func (s *stage) loadErr(err error, interrupted bool) string {
	if interrupted {
		return fmt.Sprintf("did not finish within %v (an endless loop?)", loadTimeout)
	}
	return s.message(err)
}

// Load reads and compiles the script once. A script that declares
// transform is run as is; any other code is the body of transform.
func (s *stage) Load(ctx context.Context) error {
	if s.prog != nil {
		return nil
	}
	if err := s.src.Read(s.spec, "js"); err != nil {
		return err
	}
	s.source = s.src.Code
	if prog, err := parser.ParseFile(nil, s.name, s.source, 0); err == nil && declaresTransform(prog.Body) {
		p, err := goja.Compile(s.name, s.source, false)
		if err != nil {
			return s.syntaxError(err, 0)
		}
		// Run its top level once: errors there show at lint and start.
		vm := s.newVM(nil)
		stop := guard(ctx, vm)
		_, err = vm.RunProgram(p)
		if interrupted := stop(); err != nil {
			return s.spec.Errorf(s.field(), "js script failed when loaded: %s", s.loadErr(err, interrupted))
		}
		if _, ok := goja.AssertFunction(vm.Get("transform")); !ok {
			return s.spec.Errorf(s.field(), "%s: transform is not a function", s.name)
		}
		s.prog = p
		return nil
	}
	p, err := goja.Compile(s.name, prelude+s.source+"\n})", false)
	if err != nil {
		return s.syntaxError(err, len(prelude))
	}
	s.prog, s.body = p, true
	return nil
}

// syntaxError positions a compile error; shift is the prelude's length on
// line 1. An error in the closing line of the prelude's wrapper is the end
// of the user's code.
func (s *stage) syntaxError(err error, shift int) error {
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
	msg = strings.Join(strings.Fields(strings.Replace(msg, s.name+":", "", 1)), " ")
	src := strings.TrimRight(s.source, "\n")
	if n := strings.Count(src, "\n") + 1; shift > 0 && line > n {
		last := src[strings.LastIndexByte(src, '\n')+1:]
		line, col = n, len(last)+1
		msg = "SyntaxError: unexpected end of the script (an unclosed bracket, string or expression?)"
	}
	if s.file != "" {
		return &engine.ConfigError{File: s.file, Line: line, Col: col, Msg: "js syntax error: " + msg, Err: err}
	}
	return s.spec.Errorf("code", "js syntax error in code at %d:%d: %s", line, col, msg)
}

// message is an error's first line: the position and message of a thrown
// value, without the stack. Positions on line 1 of code that is the body of
// transform do not count the prelude.
func (s *stage) message(err error) string {
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
				if s.body && pos.Filename == s.name && pos.Line == 1 {
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

// New makes one instance: its own runtime with the script run and
// init(config) called.
func (s *stage) New(ctx context.Context) (engine.Transformer, error) {
	in := &instance{st: s}
	if err := in.reset(ctx); err != nil {
		return nil, err
	}
	return in, nil
}

type instance struct {
	st        *stage
	vm        *goja.Runtime
	transform goja.Callable
	flush     goja.Callable
	stringify goja.Callable
	parse     goja.Callable
	meta      *goja.Object
	cur       *engine.Record
	emitted   []*engine.Record
	broken    bool
}

// reset makes a fresh runtime: the script's top level and init(config) run
// under ctx and loadTimeout.
func (in *instance) reset(ctx context.Context) error {
	s := in.st
	vm := s.newVM(in)
	in.vm, in.broken = vm, false
	js := vm.Get("JSON").ToObject(vm)
	in.stringify, _ = goja.AssertFunction(js.Get("stringify"))
	in.parse, _ = goja.AssertFunction(js.Get("parse"))
	stop := guard(ctx, vm)
	v, err := vm.RunProgram(s.prog)
	if interrupted := stop(); err != nil {
		return fmt.Errorf("loading %s: %s", s.name, s.loadErr(err, interrupted))
	}
	if s.body {
		in.transform, _ = goja.AssertFunction(v)
		return nil
	}
	in.transform, _ = goja.AssertFunction(vm.Get("transform"))
	in.flush, _ = goja.AssertFunction(vm.Get("flush"))
	if initFn, ok := goja.AssertFunction(vm.Get("init")); ok {
		stop := guard(ctx, vm)
		_, err := initFn(goja.Undefined(), vm.ToValue(s.config))
		if interrupted := stop(); err != nil {
			return fmt.Errorf("init: %s", s.loadErr(err, interrupted))
		}
	}
	return nil
}

// call runs fn under ctx: a timeout interrupts the script; an interrupted
// or panicking runtime is replaced before the next call.
func (in *instance) call(ctx context.Context, fn goja.Callable, args ...goja.Value) (ret goja.Value, err error) {
	if in.broken {
		// A replacement runtime: its top level and init are not the
		// record's, so not bound by the record's timeout.
		if err := in.reset(context.WithoutCancel(ctx)); err != nil {
			return nil, engine.Fatal(err)
		}
	}
	vm := in.vm
	stop := context.AfterFunc(ctx, func() { vm.Interrupt("timeout") })
	defer func() {
		if !stop() { // the interrupt fired
			vm.ClearInterrupt()
			in.broken = true
		}
		if r := recover(); r != nil {
			in.broken = true
			err = fmt.Errorf("js: %v", r)
		}
		if err != nil { // a result of the old state is still to be encoded
			in.replaceAfterTimeout(ctx)
		}
	}()
	ret, err = fn(goja.Undefined(), args...)
	if err != nil {
		var ie *goja.InterruptedError
		if errors.As(err, &ie) || ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var se *goja.StackOverflowError
		if errors.As(err, &se) || strings.Contains(err.Error(), "Maximum call stack size exceeded") {
			in.broken = true
		}
		return nil, errors.New(in.st.message(err))
	}
	return ret, nil
}

// replaceAfterTimeout replaces the runtime a timed-out call left unusable
// right away, so that the next record's timeout does not pay for the new
// runtime's top level and init.
func (in *instance) replaceAfterTimeout(ctx context.Context) {
	if in.broken && errors.Is(context.Cause(ctx), engine.ErrStageTimeout) {
		if err := in.reset(context.WithoutCancel(ctx)); err != nil {
			in.broken = true // the next call tries again and reports it
		}
	}
}

// Transform implements engine.Transformer.
func (in *instance) Transform(ctx context.Context, r *engine.Record, emit func(*engine.Record)) error {
	if in.transform == nil {
		return engine.Fatal(fmt.Errorf("%s defines no transform function", in.st.name))
	}
	if in.broken {
		if err := in.reset(context.WithoutCancel(ctx)); err != nil {
			return engine.Fatal(err)
		}
	}
	vm := in.vm
	var rec goja.Value
	if in.st.json {
		if script.IsObject(r.Data) {
			rec = vm.NewDynamicObject(&lazyObj{in: in, data: r.Data})
		} else {
			v, err := in.parse(goja.Undefined(), vm.ToValue(string(r.Data)))
			if err != nil {
				return fmt.Errorf("record is not JSON: %s", in.st.message(err))
			}
			rec = v
		}
	} else {
		rec = vm.ToValue(string(r.Data))
	}
	in.meta = metaObject(vm, r.Meta)
	in.cur, in.emitted = r, in.emitted[:0]
	ret, err := in.call(ctx, in.transform, rec, in.meta)
	if err != nil {
		return err
	}
	for _, e := range in.emitted {
		emit(e)
	}
	if ret == nil || goja.IsUndefined(ret) || goja.IsNull(ret) {
		return nil
	}
	data, err := in.encode(ret)
	if err != nil {
		return err
	}
	r.Data = data
	r.Meta = in.readMeta()
	emit(r)
	return nil
}

// Flush implements engine.Flusher: flush() may emit.
func (in *instance) Flush(ctx context.Context, emit func(*engine.Record)) error {
	if in.flush == nil {
		return nil
	}
	in.meta = in.vm.NewObject()
	in.cur, in.emitted = engine.NewRecord(nil), in.emitted[:0]
	if _, err := in.call(ctx, in.flush); err != nil {
		return err
	}
	for _, e := range in.emitted {
		emit(e)
	}
	return nil
}

func metaObject(vm *goja.Runtime, meta map[string]string) *goja.Object {
	o := vm.NewObject()
	for k, v := range meta {
		o.Set(k, v)
	}
	return o
}

func (in *instance) readMeta() map[string]string {
	m := map[string]string{}
	for _, k := range in.meta.Keys() {
		v := in.meta.Get(k)
		if v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
			m[k] = v.String()
		}
	}
	return m
}

// encode turns a returned or emitted value into record bytes.
func (in *instance) encode(v goja.Value) ([]byte, error) {
	if _, ok := v.(*goja.Symbol); ok {
		return nil, errors.New("cannot output a Symbol")
	}
	if o, ok := v.(*goja.Object); ok {
		if lo, ok := o.Export().(*lazyObj); ok {
			return lo.encode()
		}
	}
	if !in.st.json {
		if o, ok := v.(*goja.Object); ok && o.ClassName() != "String" {
			return in.stringifyValue(v)
		}
		return []byte(v.String()), nil
	}
	if s, ok := v.Export().(string); ok { // a string is raw JSON, if it parses
		if !jsonValid([]byte(s)) {
			return nil, fmt.Errorf("returned string is not JSON (the codec is ndjson): %.60q", s)
		}
		return []byte(s), nil
	}
	return in.stringifyValue(v)
}

func (in *instance) stringifyValue(v goja.Value) ([]byte, error) {
	switch v.ExportType().Kind().String() {
	case "func":
		return nil, errors.New("cannot output a function")
	}
	if _, ok := v.Export().(*goja.Symbol); ok || v.ExportType().String() == "*goja.Symbol" {
		return nil, errors.New("cannot output a Symbol")
	}
	s, err := in.stringify(goja.Undefined(), v)
	if err != nil {
		return nil, fmt.Errorf("cannot output the value: %s", in.st.message(err))
	}
	if goja.IsUndefined(s) {
		return nil, fmt.Errorf("cannot output a %s", v.ExportType())
	}
	return []byte(s.String()), nil
}

// Close implements engine.Closer.
func (in *instance) Close() error { return nil }

var (
	_ engine.Transformer = (*instance)(nil)
	_ engine.Flusher     = (*instance)(nil)
	_ engine.Loader      = (*stage)(nil)
)
