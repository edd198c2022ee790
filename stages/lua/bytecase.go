package lua

import (
	"unsafe"

	"github.com/pipe-dev/pipe/stages/internal/bytecase"
	lua "github.com/yuin/gopher-lua"
)

// strCase is string.upper (from..to a-z) and string.lower (A-Z) as in Lua
// 5.1: byte by byte, changing ASCII letters only, so that every other byte
// (UTF-8 sequences, invalid or not) stays as it was. (gopher-lua's own go
// through Go's strings.ToUpper, which turns invalid UTF-8 into U+FFFD.) A
// string without such a byte is returned as it is (no copy). For a body
// that keeps nothing of a call, the result is made in the VM's scratch
// (vm.scratchFor), not allocated.
func (v *vm) strCase(L *lua.LState, from, to byte) int {
	s := L.CheckString(1)
	if !v.l.noRetain {
		L.Push(lua.LString(bytecase.Flip(s, from, to)))
		return 1
	}
	if len(s) > 0 {
		b := v.scratchFor(len(s))
		if bytecase.FlipInto(b, s, from, to) {
			s = unsafe.String(unsafe.SliceData(b), len(b))
		} else {
			v.scratch = v.scratch[:len(v.scratch)-len(s)] // unused
		}
	}
	L.Push(v.box(s))
	return 1
}
