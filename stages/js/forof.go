package js

import (
	"reflect"
	"strconv"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
)

// forOfName is the global through which the stage's compiled for-of loops
// take what they iterate (see rewriteForOf): not enumerable, writable or
// configurable.
const forOfName = "__pipe_of__"

// rewriteForOf makes every for-of loop of prog, `for (HEAD of SOURCE)`,
// iterate over __pipe_of__(SOURCE) instead, and returns how many it
// rewrote. The call sits where SOURCE was, so that evaluation order,
// scoping and error positions stay the script's.
//
// goja runs for-of over an array through the iterator protocol: an
// iterator object, then per element a call of %ArrayIteratorPrototype%.next
// that makes a fresh {value, done} object (an object with a property map,
// five allocations). __pipe_of__ (forOf.of) hands plain arrays to an
// iterator of its own that visits the same elements with no allocation
// per element; anything else passes through unchanged.
func rewriteForOf(prog *ast.Program) int {
	n := 0
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || v.Type() == fileType || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem())
			if f, ok := v.Interface().(*ast.ForOfStatement); ok && f.Source != nil {
				// No positions (0): the call adds no entry to the source
				// map, so a for-of that throws (not iterable) reports
				// SOURCE's position, as before.
				f.Source = &ast.CallExpression{
					Callee:       &ast.Identifier{Name: forOfName},
					ArgumentList: []ast.Expression{f.Source},
				}
				n++
			}
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(prog))
	return n
}

var fileType = reflect.TypeOf((*file.File)(nil))

// forOf is one runtime's __pipe_of__: the built-ins that array iteration
// goes through, as the runtime was made, to tell whether a script changed
// them.
type forOf struct {
	rt      *goja.Runtime
	values  goja.Value   // Array.prototype.values, Array.prototype[Symbol.iterator]
	aip     *goja.Object // %ArrayIteratorPrototype%
	aipNext goja.Value   // its next
	proto   *goja.Object // the prototype of arrayIter objects: [Symbol.iterator]() { return this }
	next    goja.Value   // arrayIter's next

	// The iterator of the last step and its object: the next step is
	// most often the same loop's, found without Export (which allocates).
	last    *arrayIter
	lastObj *goja.Object
}

// installForOf defines __pipe_of__ in rt.
func installForOf(rt *goja.Runtime) error {
	f := &forOf{rt: rt}
	arrayProto := rt.Get("Array").ToObject(rt).Get("prototype").ToObject(rt)
	f.values = arrayProto.GetSymbol(goja.SymIterator)
	values, _ := goja.AssertFunction(f.values)
	it, err := values(rt.NewArray())
	if err != nil {
		return err
	}
	f.aip = it.ToObject(rt).Prototype()
	f.aipNext = f.aip.Get("next")
	f.proto = rt.NewObject()
	if err := f.proto.SetSymbol(goja.SymIterator, func(call goja.FunctionCall) goja.Value { return call.This }); err != nil {
		return err
	}
	f.next = rt.ToValue(f.step)
	return rt.GlobalObject().DefineDataProperty(forOfName, rt.ToValue(f.of), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
}

// of returns what a for-of loop iterates for x: an arrayIter when the loop
// would go through the built-in array iterator (x is an array or a Go slice
// whose Symbol.iterator is Array.prototype.values, and
// %ArrayIteratorPrototype% still has its own next and no return), x itself
// otherwise.
//
// The arrayIter visits what the built-in iterator visits (length and
// element read at each step, as for-of reads them: an array changed in the
// loop, holes and getters behave the same). What differs is only in reach
// of a script that redefines these built-ins as accessors: reading
// Symbol.iterator, next and return here runs such a getter (the loop
// would run the first two too), and a return added to the iterator
// prototypes while a loop runs is not called when the loop is left early.
func (f *forOf) of(call goja.FunctionCall) goja.Value {
	x := call.Argument(0)
	o, ok := x.(*goja.Object)
	if !ok || o.ExportType() != sliceType { // arrays and Go slices; not proxies or typed arrays
		return x
	}
	if m := o.GetSymbol(goja.SymIterator); m == nil || !m.SameAs(f.values) {
		return x
	}
	if n := f.aip.Get("next"); n == nil || !n.SameAs(f.aipNext) {
		return x
	}
	if r := f.aip.Get("return"); r != nil && !goja.IsUndefined(r) && !goja.IsNull(r) {
		return x
	}
	it := &arrayIter{f: f, arr: o}
	obj := f.rt.NewDynamicObject(it)
	_ = obj.SetPrototype(f.proto)
	f.last, f.lastObj = it, obj
	return obj
}

var sliceType = reflect.TypeOf([]any(nil))

// step is arrayIter's next: as %ArrayIteratorPrototype%.next, with the
// iterator as its own result object ({value, done} read by the loop right
// away, never seen by the script).
func (f *forOf) step(call goja.FunctionCall) goja.Value {
	o, _ := call.This.(*goja.Object)
	if o == nil {
		return goja.Undefined()
	}
	it := f.last
	if o != f.lastObj {
		it, _ = o.Export().(*arrayIter)
		if it == nil {
			panic(f.rt.NewTypeError("next called on an incompatible receiver"))
		}
		f.last, f.lastObj = it, o
	}
	it.value = goja.Undefined()
	if it.arr == nil {
		it.done = true
		return o
	}
	l := int64(0)
	if n := it.arr.Get("length"); n != nil {
		l = max(n.ToInteger(), 0)
	}
	if it.i >= l {
		it.arr, it.done = nil, true
		f.last, f.lastObj = nil, nil
		return o
	}
	v := it.arr.Get(strconv.FormatInt(it.i, 10))
	it.i++
	if v != nil {
		it.value = v
	}
	return o
}

// arrayIter iterates an array for a for-of loop (see forOf.of). It is its
// own result object: the loop reads done and value after each next.
type arrayIter struct {
	f     *forOf
	arr   *goja.Object // nil once done
	i     int64
	value goja.Value
	done  bool
}

func (it *arrayIter) Get(k string) goja.Value {
	switch k {
	case "next":
		return it.f.next
	case "value":
		return it.value
	case "done":
		if it.done {
			return it.f.rt.ToValue(true)
		}
		return it.f.rt.ToValue(false)
	}
	return nil
}

func (it *arrayIter) Set(string, goja.Value) bool { return false }
func (it *arrayIter) Has(k string) bool           { return k == "next" || k == "value" || k == "done" }
func (it *arrayIter) Delete(string) bool          { return false }
func (it *arrayIter) Keys() []string              { return []string{"next", "value", "done"} }
