package js

import (
	"encoding/binary"
	"unsafe"

	"github.com/dop251/goja"
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
				if out, ok := asciiCase(s.String(), upper); ok {
					return vm.ToValue(out)
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
// eight bytes at a time; ok is false, and nothing done, when s has a byte
// outside ASCII.
func asciiCase(s string, upper bool) (string, bool) {
	// from..to is the range to flip: a-z for upper, A-Z for lower.
	from, to := byte('a'), byte('z')
	if !upper {
		from, to = 'A', 'Z'
	}
	const hi = 0x8080808080808080
	lo := uint64(0x0101010101010101)
	addFrom := lo * uint64(0x80-from) // byte >= from sets its high bit
	addPast := lo * uint64(0x80-to-1) // byte > to sets its high bit
	if len(s) == 0 {
		return s, true
	}
	b := make([]byte, len(s))
	copy(b, s)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&hi != 0 {
			return "", false
		}
		in := (w + addFrom) &^ (w + addPast) & hi
		binary.LittleEndian.PutUint64(b[i:], w^(in>>2)) // flip 0x20 where in range
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			return "", false
		}
		if from <= c && c <= to {
			b[i] = c ^ 0x20
		}
	}
	return unsafe.String(&b[0], len(b)), true // b is not used again
}
