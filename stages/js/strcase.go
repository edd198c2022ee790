package js

import (
	"unsafe"

	"github.com/dop251/goja"
	"github.com/pipe-dev/pipe/stages/internal/bytecase"
)

// goja's String.prototype.toUpperCase and toLowerCase go through Go's
// strings.ToUpper/ToLower, which build an ASCII result byte by byte: a
// third of the time of a script that upper-cases a line (W2). fastCase
// puts a wrapper in front of them that converts a primitive string of
// ASCII eight bytes at a time, and hands anything else (other text, a
// String object, another this) to the original, so results do not change.
func fastCase(vm *goja.Runtime) {
	proto := vm.Get("String").ToObject(vm).Get("prototype").ToObject(vm)
	for _, name := range []string{"toUpperCase", "toLowerCase"} {
		orig, ok := goja.AssertFunction(proto.Get(name))
		if !ok {
			continue
		}
		upper := name == "toUpperCase"
		fn := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if s, ok := call.This.(goja.String); ok {
				if out, ok := asciiCase(vm, s.String(), upper); ok {
					return out
				}
			}
			v, err := orig(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
			return v
		})
		_ = fn.ToObject(vm).DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = proto.DefineDataProperty(name, fn, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE) // as built in: not enumerable
	}
}

// asciiCase returns s with its ASCII letters in upper (or lower) case,
// eight bytes at a time, as a new string; ok is false, and nothing done,
// when s has a byte outside ASCII.
func asciiCase(vm *goja.Runtime, s string, upper bool) (goja.Value, bool) {
	if len(s) == 0 {
		return vm.ToValue(""), true
	}
	v, b, ok := asciiCopy(vm, unsafe.Slice(unsafe.StringData(s), len(s))) // (read only)
	if !ok {
		return nil, false
	}
	from, to := bytecase.Range(upper)
	bytecase.FlipASCII(b, from, to) // ASCII: it flips every letter
	return v, true
}
