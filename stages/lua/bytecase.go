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
// that keeps nothing of a call, the copy it makes is noted (vm.fresh): a
// record may take its bytes without another copy (vm.bytesOf).
func (v *vm) strCase(L *lua.LState, from, to byte) int {
	s := L.CheckString(1)
	r := bytecase.Flip(s, from, to)
	if v.l.noRetain && len(r) > 0 && unsafe.StringData(r) != unsafe.StringData(s) && len(v.fresh) < maxFresh {
		v.fresh = append(v.fresh, unsafe.StringData(r))
	}
	L.Push(v.box(r))
	return 1
}

// maxFresh bounds the strings of one call vm.fresh notes.
const maxFresh = 8
