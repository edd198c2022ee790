package js

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"
	"github.com/pipe-dev/pipe/stages/internal/script"
	"github.com/tidwall/gjson"
)

func jsonValid(b []byte) bool { return gjson.ValidBytes(b) }

// declaresTransform reports whether the script declares a global transform
// (function transform, var/let/const transform = ..., transform = ...).
func declaresTransform(body []ast.Statement) bool {
	named := func(t any) bool {
		id, ok := t.(*ast.Identifier)
		return ok && id.Name == "transform"
	}
	for _, st := range body {
		switch x := st.(type) {
		case *ast.FunctionDeclaration:
			if x.Function != nil && x.Function.Name != nil && x.Function.Name.Name == "transform" {
				return true
			}
		case *ast.VariableStatement:
			for _, b := range x.List {
				if named(b.Target) {
					return true
				}
			}
		case *ast.LexicalDeclaration:
			for _, b := range x.List {
				if named(b.Target) {
					return true
				}
			}
		case *ast.ExpressionStatement:
			if a, ok := x.Expression.(*ast.AssignExpression); ok && named(a.Left) {
				return true
			}
		}
	}
	return false
}

// newRuntime makes a runtime for the stage: no filesystem, network,
// process or timers (goja has none); console goes to pipe's log; emit and
// require (modules: only).
func (l *language) newRuntime(v *vm) *goja.Runtime {
	log := l.st.Log
	vm := goja.New()
	vm.SetMaxCallStackSize(maxCallStack)
	// eval and Function parse at run time; goja would read the file a
	// "//# sourceMappingURL=" comment names (any path, /dev/zero too).
	vm.SetParserOptions(parser.WithDisableSourceMaps)
	console := vm.NewObject()
	for _, lvl := range []string{"log", "info", "warn", "error", "debug"} {
		console.Set(lvl, func(call goja.FunctionCall) goja.Value {
			parts := make([]string, len(call.Arguments))
			for i, a := range call.Arguments {
				parts[i] = a.String()
			}
			msg := strings.Join(parts, " ")
			switch lvl {
			case "warn":
				log.Warn(msg)
			case "error":
				log.Error(msg)
			case "debug":
				log.Debug(msg)
			default:
				log.Info(msg)
			}
			return goja.Undefined()
		})
	}
	vm.Set("console", console)
	boundRepeat(vm)
	fastCase(vm)
	boundNativeLoops(vm)
	boundRegexps(vm)
	boundStringify(vm, v)
	if err := installForOf(vm); err != nil {
		panic(err) // a fresh runtime's built-ins: not reached
	}
	vm.Set("emit", func(call goja.FunctionCall) goja.Value {
		if v.in == nil {
			return goja.Undefined()
		}
		data, err := v.encode(call.Argument(0), true)
		if err != nil {
			panic(vm.NewTypeError("emit: %v", err))
		}
		meta := v.readMeta()
		if v.meta == nil { // out of the script's reach: the record's own
			meta = maps.Clone(v.recMeta) // (each emitted record has its own map)
		}
		v.in.Emit(data, meta)
		return goja.Undefined()
	})
	l.enableRequire(vm)
	return vm
}

// maxRepeatChars is the longest string String.prototype.repeat makes.
const maxRepeatChars = 64 << 20

// boundRepeat makes String.prototype.repeat refuse results over
// maxRepeatChars: it is the one call that can ask for any amount of memory
// at once, and Go cannot recover from running out of it.
func boundRepeat(vm *goja.Runtime) {
	proto := vm.Get("String").ToObject(vm).Get("prototype").ToObject(vm)
	orig, ok := goja.AssertFunction(proto.Get("repeat"))
	if !ok {
		return
	}
	repeat := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		if n := call.Argument(0).ToFloat(); n > 0 && float64(len(call.This.String()))*n > maxRepeatChars {
			e, _ := vm.New(vm.Get("RangeError"), vm.ToValue(fmt.Sprintf(
				"repeat: the result would be %.0f characters, more than the %d Mi a script may make at once", float64(len(call.This.String()))*n, maxRepeatChars>>20)))
			panic(e)
		}
		v, err := orig(call.This, call.Arguments...)
		if err != nil {
			panic(err)
		}
		return v
	})
	_ = repeat.ToObject(vm).DefineDataProperty("name", vm.ToValue("repeat"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = proto.DefineDataProperty("repeat", repeat, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE) // as built in: not enumerable
}

// maxNativeElements bounds the elements the native loops of Array.prototype
// fill and join may visit, and the length of padStart and padEnd results:
// a Go loop inside a builtin is not interrupted by a timeout, and
// new Array(2**32-1).fill(0) would run the host out of memory before
// returning.
const maxNativeElements = 1 << 24

// boundNativeLoops makes fill, join, padStart and padEnd refuse work past
// maxNativeElements with a RangeError.
func boundNativeLoops(vm *goja.Runtime) {
	wrap := func(ctor, name string, size func(call goja.FunctionCall) float64) {
		proto := vm.Get(ctor).ToObject(vm).Get("prototype").ToObject(vm)
		orig, ok := goja.AssertFunction(proto.Get(name))
		if !ok {
			return
		}
		fn := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if n := size(call); n > maxNativeElements {
				e, _ := vm.New(vm.Get("RangeError"), vm.ToValue(fmt.Sprintf(
					"%s: %.0f elements, more than the %d a script may have a builtin loop over at once", name, n, maxNativeElements)))
				panic(e)
			}
			v, err := orig(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
			return v
		})
		_ = fn.ToObject(vm).DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = proto.DefineDataProperty(name, fn, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	length := func(call goja.FunctionCall) float64 {
		if o, ok := call.This.(*goja.Object); ok {
			return o.Get("length").ToFloat()
		}
		return 0
	}
	rel := func(v goja.Value, n, dflt float64) float64 { // a relative index of fill
		if v == nil || goja.IsUndefined(v) {
			return dflt
		}
		i := v.ToFloat()
		if i < 0 {
			return max(n+i, 0)
		}
		return min(i, n)
	}
	wrap("Array", "fill", func(call goja.FunctionCall) float64 {
		n := length(call)
		return rel(call.Argument(2), n, n) - rel(call.Argument(1), n, 0)
	})
	wrap("Array", "join", length)
	pad := func(call goja.FunctionCall) float64 { return call.Argument(0).ToFloat() }
	wrap("String", "padStart", pad)
	wrap("String", "padEnd", pad)
}

// lazyObj is a JSON object record as a JavaScript object whose fields are
// decoded when first read; writes and deletes are applied to the original
// bytes when it is output, so fields keep their order and formatting (the
// shared lazy view, script.Lazy).
type lazyObj struct {
	v *vm
	script.Lazy[goja.Value]
}

func (o *lazyObj) Get(k string) goja.Value {
	v, ok, r := o.Lookup(k)
	if ok {
		return v
	}
	if !r.Exists() {
		return nil
	}
	vm := o.v.rt
	switch r.Type {
	case gjson.String:
		return asciiValue(vm, r.Str)
	case gjson.Number:
		return vm.ToValue(r.Num)
	case gjson.True, gjson.False:
		return vm.ToValue(r.Bool())
	case gjson.Null:
		return goja.Null()
	}
	if err := script.CheckDepth([]byte(r.Raw)); err != nil {
		panic(vm.NewGoError(fmt.Errorf("field %s: %w", k, err)))
	}
	v, ok = fromJSON(vm, r)
	if !ok { // a number out of range: as JSON.parse has it
		var err error
		if v, err = o.v.parse(goja.Undefined(), vm.ToValue(r.Raw)); err != nil {
			return nil
		}
	}
	o.Cache(k, v) // the script may change it in place
	return v
}

// fromJSON makes the value JSON.parse makes of r (valid JSON, nested at
// most script.MaxDepth), straight from gjson instead of through JSON.parse
// (which reads it token by token with encoding/json): the same strings
// (ToValue, as newStringValue), numbers (float64 as floatToValue), arrays,
// and objects whose fields are own data properties in their order, a
// repeated name keeping its first place and its last value. ok is false
// for a number out of float64's range, which JSON.parse refuses.
func fromJSON(rt *goja.Runtime, r gjson.Result) (v goja.Value, ok bool) {
	switch r.Type {
	case gjson.String:
		return asciiValue(rt, r.Str), true
	case gjson.Number:
		if math.IsInf(r.Num, 0) {
			return nil, false
		}
		return rt.ToValue(r.Num), true
	case gjson.True, gjson.False:
		return rt.ToValue(r.Bool()), true
	case gjson.Null:
		return goja.Null(), true
	}
	ok = true
	if r.IsArray() {
		var buf [8]any // (NewArray copies the items)
		items := buf[:0]
		r.ForEach(func(_, e gjson.Result) bool {
			var x goja.Value
			x, ok = fromJSON(rt, e)
			items = append(items, x)
			return ok
		})
		if !ok {
			return nil, false
		}
		return rt.NewArray(items...), true
	}
	obj := rt.NewObject()
	r.ForEach(func(k, e gjson.Result) bool {
		var x goja.Value
		if x, ok = fromJSON(rt, e); !ok {
			return false
		}
		if k.Str == "__proto__" { // an own property, not the prototype
			_ = obj.DefineDataProperty(k.Str, x, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		} else {
			_ = obj.Set(k.Str, x)
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return obj, true
}

func (o *lazyObj) Set(k string, v goja.Value) bool {
	o.Lazy.Set(k, v)
	return true
}

func (o *lazyObj) Delete(k string) bool {
	o.Lazy.Delete(k)
	return true
}

// lazyInline is the size of the records whose copy newLazyObj keeps in
// the lazy object's own allocation.
const lazyInline = 256

// lazyBox is a lazy object with room for the bytes of a small record.
type lazyBox struct {
	lazyObj
	buf [lazyInline]byte
}

// newLazyObj returns the lazy object of record bytes data, reading a copy
// of them (in the object's allocation when they fit).
func newLazyObj(v *vm, data []byte) *lazyObj {
	if len(data) <= lazyInline {
		b := &lazyBox{lazyObj: lazyObj{v: v}}
		n := copy(b.buf[:], data)
		b.Data = b.buf[:n:n]
		return &b.lazyObj
	}
	lo := &lazyObj{v: v}
	lo.Data = bytes.Clone(data)
	return lo
}

// output encodes the object for a record that is output (see encode). A
// record the script did not change is its copy of the bytes, which the
// object keeps reading and which must not be shared with a record (a
// stage after this one may change a record's bytes in place): it is own,
// the bytes of the record the object was made of, when given (the
// current record's own, returned), and a copy of them otherwise.
func (o *lazyObj) output(again bool, own []byte) ([]byte, error) {
	out, err := o.encode(again)
	if err != nil || len(out) == 0 || unsafe.SliceData(out) != unsafe.SliceData(o.Data) {
		return out, err
	}
	if own != nil && !again {
		return own, nil
	}
	return bytes.Clone(out), nil
}

// encode applies the edits to the record's bytes; again keeps the bytes
// around the edited values at once, for an emit that may come again with a
// field changed (script.Lazy.EncodeAgain).
func (o *lazyObj) encode(again bool) ([]byte, error) {
	if again {
		return o.Lazy.EncodeAgain(o)
	}
	return o.Lazy.Encode(o)
}

var _ script.FieldAppender[goja.Value] = (*lazyObj)(nil)

// EncodeField implements script.Encoder: undefined deletes the field.
func (o *lazyObj) EncodeField(k string, v goja.Value) ([]byte, bool, error) {
	return o.AppendField(nil, k, v)
}

// AppendField is EncodeField appending to b (script.FieldAppender): the
// primitives pipe encodes itself go straight into b.
func (o *lazyObj) AppendField(b []byte, k string, v goja.Value) ([]byte, bool, error) {
	if goja.IsUndefined(v) {
		return b, true, nil
	}
	if out, ok := appendPrimitive(b, v); ok {
		return out, false, nil
	}
	raw, err := o.v.stringifyValue(v)
	if err != nil {
		return b, false, fmt.Errorf("field %s: %w", k, err)
	}
	return append(b, raw...), false, nil
}

// primitiveJSON is appendPrimitive to a new slice, nil when it leaves v to
// JSON.stringify.
func primitiveJSON(v goja.Value) []byte {
	b, ok := appendPrimitive(nil, v)
	if !ok {
		return nil
	}
	return b
}

// appendPrimitive appends JSON.stringify(v) to b for the primitives,
// without calling into the runtime: null, booleans, finite numbers (as
// JavaScript writes them) and strings that are valid UTF-16. ok is false
// (b unchanged) for anything else (objects, NaN and the infinities, which
// are errors, symbols, BigInts, strings with lone surrogates), which goes
// through JSON.stringify.
func appendPrimitive(b []byte, v goja.Value) (_ []byte, ok bool) {
	switch {
	case v == nil:
		return b, false
	case goja.IsString(v):
		return appendJSONString(b, v.String())
	case goja.IsNumber(v):
		f := v.ToFloat()
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return b, false
		case f == math.Trunc(f) && math.Abs(f) <= 1<<53:
			return strconv.AppendInt(b, int64(f), 10), true // -0 is 0, as in JavaScript
		}
		return append(b, v.String()...), true // Number::toString, as JSON.stringify writes it
	case goja.IsNull(v):
		return append(b, "null"...), true
	}
	if _, isObj := v.(*goja.Object); isObj {
		return b, false
	}
	if x, isBool := v.Export().(bool); isBool {
		return strconv.AppendBool(b, x), true
	}
	return b, false
}

// appendJSONString appends s quoted as JSON.stringify quotes it: '"' and
// '\' and the control characters escaped (\b \t \n \f \r, else
// \u00xx), everything else as it is. s is the UTF-8 form of a JavaScript
// string, in which a lone surrogate became U+FFFD: a string holding U+FFFD
// is left to JSON.stringify (ok false, b unchanged), which writes a lone
// surrogate as \udxxx.
func appendJSONString(b []byte, s string) (_ []byte, ok bool) {
	const hex = "0123456789abcdef"
	orig := len(b)
	b = slices.Grow(b, len(s)+2) // (one allocation at most, for the usual string)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf:
			b = append(b, c)
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError { // U+FFFD, or bytes that are not UTF-8
				return b[:orig], false
			}
			b = append(b, s[i:i+n]...)
			i += n - 1
		}
	}
	return append(b, '"'), true
}
