package js

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/dop251/goja"

	"github.com/pipe-dev/pipe/stages/internal/script"
)

// maxStringifyObjects bounds the objects and arrays JSON.stringify
// converts at once (an object referenced twice counts twice).
const maxStringifyObjects = 1 << 20

// boundStringify makes JSON.stringify, which pipe also uses to output
// what a script returns or emits, refuse with a RangeError a value nested
// deeper than script.MaxDepth (the limit of the records scripts receive,
// 200) or holding more than maxStringifyObjects objects and arrays. goja's stringify is
// a Go loop that no timeout interrupts and that checks for cycles on a
// stack (depth² work): an array nested 100k deep took minutes, and an
// array holding itself twice at each of 60 levels would take for ever.
// One walk over the value before stringify sees it finds both; the walk
// itself stops when the call's context ends (its timeout). v is the VM
// whose Bind gives that context.
func boundStringify(rt *goja.Runtime, v *vm) {
	json := rt.Get("JSON").ToObject(rt)
	orig, ok := goja.AssertFunction(json.Get("stringify"))
	if !ok {
		return
	}
	fn := rt.ToValue(func(call goja.FunctionCall) goja.Value {
		if o, ok := call.Argument(0).(*goja.Object); ok {
			w := walker{ctx: v.ctx}
			if err := w.walk(o, 1); err != nil && err != errCycle {
				e, _ := rt.New(rt.Get("RangeError"), rt.ToValue("JSON.stringify: "+err.Error()))
				panic(e)
			}
		}
		res, err := orig(call.This, call.Arguments...)
		if err != nil {
			panic(err)
		}
		return res
	})
	_ = fn.ToObject(rt).DefineDataProperty("name", rt.ToValue("stringify"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = json.DefineDataProperty("stringify", fn, goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_TRUE)
}

// walker checks the size and nesting of a value for boundStringify.
type walker struct {
	ctx  context.Context // nil: not bound (Load's VM)
	n    int             // objects visited
	path map[*goja.Object]bool
}

// errCycle stops a walk at a cycle: stringify itself reports it
// ("circular structure"), at once.
var errCycle = errors.New("cycle")

// walk checks o, at nesting level depth, and what it holds: its own
// enumerable properties (what stringify outputs; what a toJSON method
// returns is not foreseen). A lazy record is not walked: its fields came
// from the record (checked when parsed) or are checked when it is encoded.
func (w *walker) walk(o *goja.Object, depth int) error {
	if w.path[o] {
		return errCycle
	}
	if depth > script.MaxDepth {
		return script.ErrTooDeep
	}
	if o.ExportType() == lazyType || o.ClassName() == "Function" {
		return nil
	}
	if w.path == nil {
		w.path = map[*goja.Object]bool{}
	}
	w.path[o] = true
	defer delete(w.path, o)
	if w.n++; w.n > maxStringifyObjects {
		return fmt.Errorf("a value of more than %d objects and arrays", maxStringifyObjects)
	}
	for i, k := range o.Keys() {
		if i%1024 == 1023 || w.n%1024 == 0 {
			if w.ctx != nil && w.ctx.Err() != nil {
				return context.Cause(w.ctx)
			}
		}
		if c, ok := o.Get(k).(*goja.Object); ok {
			if err := w.walk(c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// lazyType is the export type of a lazy record object.
var lazyType = reflect.TypeOf((*lazyObj)(nil))
