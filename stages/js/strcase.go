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
// as a new string; ok is false, and nothing returned, when s has a byte
// outside ASCII. The copy and the change of case are one pass (flipCopy)
// into one allocation, the string's header and bytes (see asciiCopy).
func asciiCase(vm *goja.Runtime, s string, upper bool) (goja.Value, bool) {
	n := len(s)
	if n == 0 {
		return vm.ToValue(""), true
	}
	from, to := bytecase.Range(upper)
	if asciiTab == nil {
		b := make([]byte, n)
		if !flipCopy(b, s, from, to) {
			return nil, false
		}
		return vm.ToValue(unsafe.String(&b[0], n)), true
	}
	v, body := asciiBlock(n)
	if !flipCopy(body, s, from, to) {
		return nil, false
	}
	return v, true
}

// flipCopy copies src into dst (at least as long) with the bytes in
// from..to (a-z or A-Z, see bytecase.Range) flipped to the other case,
// and reports whether src is all ASCII; when it is not, what it wrote to
// dst is garbage. A byte below 0x80 is in from..to when adding 0x80-from
// sets its high bit and adding 0x80-to-1 does not (neither sum carries
// into the next byte). Sixteen bytes a step (flipBytes: SSE2 on amd64,
// two words elsewhere), the last block overlapping the one before it;
// below sixteen bytes, two words that may overlap, or bytes.
func flipCopy(dst []byte, src string, from, to byte) bool {
	const (
		hi = 0x8080808080808080
		lo = 0x0101010101010101
	)
	n := len(src)
	if len(dst) < n {
		panic("flipCopy: dst too short")
	}
	if n < 8 {
		var acc byte
		for i := 0; i < n; i++ {
			c := src[i]
			acc |= c
			if from <= c && c <= to {
				c ^= 0x20
			}
			dst[i] = c
		}
		return acc < 0x80
	}
	addFrom, addPast := lo*uint64(0x80-from), lo*uint64(0x80-to-1)
	s := unsafe.StringData(src)
	d := unsafe.SliceData(dst)
	if n >= 16 {
		return flipBytes(d, s, n, addFrom, addPast) == 0
	}
	w0 := *(*uint64)(unsafe.Pointer(s))
	w1 := *(*uint64)(unsafe.Add(unsafe.Pointer(s), n-8)) // overlaps w0 below sixteen bytes
	*(*uint64)(unsafe.Pointer(d)) = w0 ^ ((w0+addFrom)&^(w0+addPast)&hi)>>2
	*(*uint64)(unsafe.Add(unsafe.Pointer(d), n-8)) = w1 ^ ((w1+addFrom)&^(w1+addPast)&hi)>>2
	return (w0|w1)&hi == 0
}
